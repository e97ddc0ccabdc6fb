// The C API over the C++ one. Handles are tokens in a table: every call looks its handle up
// there (a closed or foreign pointer is refused, never dereferenced) and holds a reference for the
// call, so closing a handle while another thread uses it is safe.
#include "smbd/smbd.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/credentials_file.h"
#include "smb2/client/url.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/create.h"
#include "smb2/security/algorithms.h"

// The handles' types are the C API's opaque structs.
struct smbd_client {
  std::unique_ptr<smbd::Client> client;  // destroyed last
  std::unique_ptr<smbd::Session> session;
  std::unique_ptr<smbd::Tree> tree;  // destroyed first
  std::string rdma_note;             // smbd_client_rdma_note's answer
};

struct smbd_file {
  std::shared_ptr<smbd_client> owner;  // the client outlives the file
  std::unique_ptr<smbd::File> file;
};

struct smbd_buffer {
  std::shared_ptr<smbd_client> owner;  // the client outlives the registration
  std::unique_ptr<smbd::RegisteredBuffer> registration;
};

namespace smbd {
namespace {

// Set on the thread that runs a read or write callback: blocking calls from there would wait
// for the very thread that has to deliver their answer.
thread_local bool t_in_callback = false;

// Handles are tokens, not the objects' addresses: each new handle gets a value never handed
// out before, so a closed handle stays refused even after its memory is reused for a new one.
class HandleTable {
 public:
  static HandleTable& Get() {
    static HandleTable* table = new HandleTable();  // never destroyed: calls at exit stay safe
    return *table;
  }
  // Registers `h` and returns its handle.
  template <typename T>
  T* Add(std::shared_ptr<T> h) {
    std::lock_guard<std::mutex> l(mu_);
    next_ += 16;  // looks like an aligned pointer; never 0, never repeats in 2^60 handles
    Map<T>()[next_] = std::move(h);
    return reinterpret_cast<T*>(next_);
  }
  template <typename T>
  std::shared_ptr<T> Find(const T* h) {
    std::lock_guard<std::mutex> l(mu_);
    auto& m = Map<T>();
    auto it = m.find(reinterpret_cast<uintptr_t>(h));
    return it == m.end() ? nullptr : it->second;
  }
  template <typename T>
  std::shared_ptr<T> Remove(const T* h) {
    std::lock_guard<std::mutex> l(mu_);
    auto& m = Map<T>();
    auto it = m.find(reinterpret_cast<uintptr_t>(h));
    if (it == m.end()) return nullptr;
    std::shared_ptr<T> out = std::move(it->second);
    m.erase(it);
    return out;
  }
  // Takes every file (T = smbd_file) or registered buffer (smbd_buffer) of `owner` out of the
  // table.
  template <typename T>
  std::vector<std::shared_ptr<T>> RemoveAllOf(const smbd_client* owner) {
    std::lock_guard<std::mutex> l(mu_);
    auto& m = Map<T>();
    std::vector<std::shared_ptr<T>> out;
    for (auto it = m.begin(); it != m.end();) {
      if (it->second->owner.get() == owner) {
        out.push_back(std::move(it->second));
        m.erase(it++);
      } else {
        ++it;
      }
    }
    return out;
  }

 private:
  template <typename T>
  absl::flat_hash_map<uintptr_t, std::shared_ptr<T>>& Map();

  std::mutex mu_;
  uintptr_t next_ = 0x10000;
  absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_client>> clients_;
  absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_file>> files_;
  absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_buffer>> buffers_;
};

template <>
absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_client>>& HandleTable::Map() {
  return clients_;
}
template <>
absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_file>>& HandleTable::Map() {
  return files_;
}
template <>
absl::flat_hash_map<uintptr_t, std::shared_ptr<smbd_buffer>>& HandleTable::Map() {
  return buffers_;
}

smbd_status StatusCode(const absl::Status& s) {
  const std::optional<uint32_t> nt = NtStatusOf(s);
  if (nt == ntstatus::kLockNotGranted || nt == ntstatus::kFileLockConflict) return SMBD_ELOCKED;
  switch (s.code()) {
    case absl::StatusCode::kOk: return SMBD_OK;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return SMBD_EINVAL;
    case absl::StatusCode::kNotFound: return SMBD_ENOENT;
    case absl::StatusCode::kAlreadyExists: return SMBD_EEXIST;
    case absl::StatusCode::kPermissionDenied: return SMBD_EACCES;
    case absl::StatusCode::kUnauthenticated: return SMBD_EAUTH;
    case absl::StatusCode::kDeadlineExceeded: return SMBD_ETIMEDOUT;
    case absl::StatusCode::kCancelled: return SMBD_ECANCELED;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted: return SMBD_EUNAVAILABLE;
    case absl::StatusCode::kDataLoss: return SMBD_EPROTO;
    case absl::StatusCode::kResourceExhausted: return SMBD_ENOSPC;
    default: return SMBD_EIO;
  }
}

smbd_status Report(smbd_error* err, smbd_status code, absl::string_view message,
                   uint32_t ntstatus = 0) {
  if (err != nullptr) {
    err->status = code;
    err->ntstatus = ntstatus;
    const size_t n = std::min(message.size(), sizeof(err->message) - 1);
    std::memcpy(err->message, message.data(), n);
    err->message[n] = '\0';
  }
  return code;
}

smbd_status Report(smbd_error* err, const absl::Status& s) {
  if (s.ok()) return Report(err, SMBD_OK, "");
  return Report(err, StatusCode(s), s.message(), NtStatusOf(s).value_or(0));
}

smbd_status BadHandle(smbd_error* err, const char* what) {
  return Report(err, SMBD_EBADHANDLE,
                absl::StrCat(what, ": the handle is NULL, closed, or not one this library made"));
}

// For calls that wait: refused on a read callback's thread.
bool RefuseInCallback(smbd_error* err, const char* call) {
  if (!t_in_callback) return false;
  Report(err, SMBD_EINVAL,
         absl::StrCat(call, " blocks and was called from a read or write callback; only "
                            "smbd_read_async and smbd_write_async may be called there"));
  return true;
}

void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

smbd_stat_t ToStat(const FileInfo& fi) {
  smbd_stat_t st{};
  st.size = fi.size;
  st.allocation_size = fi.allocation_size;
  st.attributes = fi.attributes;
  st.is_directory = fi.is_directory() ? 1 : 0;
  st.creation_time = fi.creation_time;
  st.last_access_time = fi.last_access_time;
  st.last_write_time = fi.last_write_time;
  st.change_time = fi.change_time;
  return st;
}

absl::StatusOr<Credentials> MakeCredentials(const SmbUrl& url, const smbd_options& o) {
  Credentials c;
  c.anonymous = o.anonymous != 0;
  c.guest = o.guest != 0;
  c.user = o.user != nullptr ? o.user : url.user;
  c.domain = o.domain != nullptr ? o.domain : url.domain;
  if (o.password != nullptr) {
    c.password = SecretBytes::FromString(o.password);
  } else if (o.credentials_file != nullptr) {
    absl::StatusOr<CredentialsFile> f = ReadCredentialsFile(o.credentials_file);
    if (!f.ok()) return f.status();
    if (o.user == nullptr && !f->user.empty()) c.user = f->user;
    if (o.domain == nullptr && !f->domain.empty()) c.domain = f->domain;
    c.password = std::move(f->password);
  } else if (url.has_password) {
    c.password = SecretBytes::FromString(url.password);
  }
  switch (o.kerberos) {
    case SMBD_KERBEROS_AUTO: c.kerberos = KerberosUse::kAuto; break;
    case SMBD_KERBEROS_REQUIRE: c.kerberos = KerberosUse::kRequire; break;
    case SMBD_KERBEROS_NEVER: c.kerberos = KerberosUse::kNever; break;
    default: return absl::InvalidArgumentError("kerberos must be SMBD_KERBEROS_AUTO, _REQUIRE or _NEVER");
  }
  if (o.kerberos_principal != nullptr) c.kerberos_principal = o.kerberos_principal;
  // Without a user, Kerberos may still log in as the ticket's user (Login says why not).
  if (c.user.empty() && !c.anonymous && !c.guest && c.kerberos == KerberosUse::kNever) {
    return absl::InvalidArgumentError("no user: give one in the URL or the options");
  }
  return c;
}

// The common shape of a blocking call on a handle: refused in a read callback, the handle
// looked up (and held for the call), `body` run, its status reported.
template <typename T, typename Body>
smbd_status Call(T* handle, smbd_error* err, const char* call, Body&& body) {
  if (RefuseInCallback(err, call)) return SMBD_EINVAL;
  std::shared_ptr<T> h = HandleTable::Get().Find(handle);
  if (h == nullptr) return BadHandle(err, call);
  return Report(err, body(*h));
}

}  // namespace
}  // namespace smbd

using smbd::BadHandle;
using smbd::Call;
using smbd::HandleTable;
using smbd::RefuseInCallback;
using smbd::Report;

extern "C" {

const char* smbd_version(void) { return SMBD_VERSION_STRING; }

const char* smbd_status_name(smbd_status status) {
  switch (status) {
    case SMBD_OK: return "SMBD_OK";
    case SMBD_EINVAL: return "SMBD_EINVAL";
    case SMBD_EBADHANDLE: return "SMBD_EBADHANDLE";
    case SMBD_ENOENT: return "SMBD_ENOENT";
    case SMBD_EEXIST: return "SMBD_EEXIST";
    case SMBD_EACCES: return "SMBD_EACCES";
    case SMBD_EAUTH: return "SMBD_EAUTH";
    case SMBD_ETIMEDOUT: return "SMBD_ETIMEDOUT";
    case SMBD_ECANCELED: return "SMBD_ECANCELED";
    case SMBD_EUNAVAILABLE: return "SMBD_EUNAVAILABLE";
    case SMBD_EPROTO: return "SMBD_EPROTO";
    case SMBD_ENOSPC: return "SMBD_ENOSPC";
    case SMBD_EIO: return "SMBD_EIO";
    case SMBD_ELOCKED: return "SMBD_ELOCKED";
  }
  return "SMBD_(unknown)";
}

void smbd_options_init(smbd_options* options) {
  if (options == nullptr) return;
  *options = smbd_options{};
  options->transport = SMBD_TRANSPORT_AUTO;
  options->timeout_ms = 60000;
}

smbd_status smbd_connect(const char* url, const smbd_options* options, smbd_client** client,
                         smbd_error* err) {
  using namespace smbd;  // NOLINT: the C API's body
  if (url == nullptr || client == nullptr) {
    return Report(err, SMBD_EINVAL, "smbd_connect: url and client must not be NULL");
  }
  *client = nullptr;
  if (RefuseInCallback(err, "smbd_connect")) return SMBD_EINVAL;
  smbd_options o;
  smbd_options_init(&o);
  if (options != nullptr) o = *options;
  absl::StatusOr<SmbUrl> parsed = ParseSmbUrl(url);
  if (!parsed.ok()) {
    return Report(err, SMBD_EINVAL, absl::StrCat("bad URL ", RedactUrlText(url), ": ",
                                                 parsed.status().message()));
  }
  if (parsed->share.empty()) return Report(err, SMBD_EINVAL, "the URL names no share");
  ConnectSpec spec;
  spec.host = parsed->host;
  spec.port = parsed->port;
  spec.transport = o.transport == SMBD_TRANSPORT_RDMA  ? TransportChoice::kRdma
                   : o.transport == SMBD_TRANSPORT_TCP ? TransportChoice::kTcp
                                                       : TransportChoice::kAuto;
  if (o.rdma_device != nullptr) spec.rdma_device = o.rdma_device;
  spec.client.require_signing = o.sign != 0;
  spec.client.require_encryption = o.seal != 0;
  spec.client.request_timeout = absl::Milliseconds(o.timeout_ms == 0 ? 60000 : o.timeout_ms);
  spec.client.reconnect.max_outage = absl::Milliseconds(o.reconnect_ms);
  spec.client.multichannel.max_channels = std::clamp<uint32_t>(o.max_channels, 1, 16);
  if (o.cipher != nullptr) {
    const std::optional<Cipher> pick = CipherFromName(o.cipher);
    if (!pick.has_value()) {
      return Report(err, SMBD_EINVAL, absl::StrCat("unknown cipher '", o.cipher, "'"));
    }
    std::vector<Cipher> pref = {*pick};
    for (Cipher c : spec.client.ciphers) {
      if (c != *pick) pref.push_back(c);
    }
    spec.client.ciphers = pref;
  }
  absl::StatusOr<Credentials> creds = MakeCredentials(*parsed, o);
  Wipe(&parsed->password);
  if (!creds.ok()) return Report(err, creds.status());

  auto h = std::make_shared<smbd_client>();
  absl::StatusOr<std::unique_ptr<Client>> c = ConnectClient(spec, nullptr);
  if (!c.ok()) return Report(err, c.status());
  h->client = *std::move(c);
  absl::StatusOr<std::unique_ptr<Session>> s = h->client->Login(*creds);
  if (!s.ok()) return Report(err, s.status());
  h->session = *std::move(s);
  absl::StatusOr<std::unique_ptr<Tree>> t = h->session->TreeConnect(parsed->share);
  if (!t.ok()) return Report(err, t.status());
  h->tree = *std::move(t);
  h->rdma_note = h->session->RdmaChannelNote();
  *client = HandleTable::Get().Add(std::move(h));
  return Report(err, SMBD_OK, "");
}

smbd_status smbd_connect_host(const char* host, uint16_t port, const char* share,
                              const smbd_options* options, smbd_client** client,
                              smbd_error* err) {
  if (host == nullptr || share == nullptr || client == nullptr || *host == '\0' ||
      *share == '\0' || std::strpbrk(host, "/@;") != nullptr || std::strchr(share, '/') != nullptr) {
    return Report(err, SMBD_EINVAL, "smbd_connect_host: a host and a share name are needed");
  }
  // The same path as a URL, so that both are checked alike. IPv6 literals get their brackets.
  const bool v6 = std::strchr(host, ':') != nullptr;
  std::string url = absl::StrCat("smb://", v6 ? "[" : "", host, v6 ? "]" : "");
  if (port != 0) absl::StrAppend(&url, ":", port);
  absl::StrAppend(&url, "/", share);
  return smbd_connect(url.c_str(), options, client, err);
}

smbd_status smbd_disconnect(smbd_client* client, smbd_error* err) {
  if (RefuseInCallback(err, "smbd_disconnect")) return SMBD_EINVAL;
  std::shared_ptr<smbd_client> h = HandleTable::Get().Remove(client);
  if (h == nullptr) return BadHandle(err, "smbd_disconnect");
  // The files go first (each holds the client); whatever another thread still uses ends when
  // that call returns.
  HandleTable::Get().RemoveAllOf<smbd_file>(h.get()).clear();
  HandleTable::Get().RemoveAllOf<smbd_buffer>(h.get()).clear();
  return Report(err, SMBD_OK, "");
}

smbd_status smbd_cancel(smbd_client* client, smbd_error* err) {
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return BadHandle(err, "smbd_cancel");
  h->client->Cancel();
  return Report(err, SMBD_OK, "");
}

const char* smbd_client_transport(smbd_client* client) {
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return nullptr;
  return h->client->connection()->transport()->name();
}

const char* smbd_client_auth_mechanism(smbd_client* client) {
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return nullptr;
  const std::string& m = h->session->auth_mechanism();
  // Literals, so that the pointer outlives the handle.
  for (const char* name : {"Kerberos", "NTLM", "guest", "anonymous"}) {
    if (m == name) return name;
  }
  return "unknown";
}

int smbd_client_channels(smbd_client* client, uint32_t index, uint64_t* bytes_read) {
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return -1;
  std::vector<smbd::ChannelInfo> up;
  for (const smbd::ChannelInfo& ch : h->client->channels()) {
    if (!ch.up) continue;
    if (ch.first) {
      up.insert(up.begin(), ch);
    } else {
      up.push_back(ch);
    }
  }
  if (bytes_read != nullptr) *bytes_read = index < up.size() ? up[index].bytes_read : 0;
  return static_cast<int>(std::max<size_t>(up.size(), 1));
}

smbd_status smbd_register_buffer(smbd_client* client, void* memory, size_t length,
                                 smbd_buffer** buffer, smbd_error* err) {
  using namespace smbd;  // NOLINT: the C API's body
  if (buffer == nullptr || memory == nullptr || length == 0) {
    return Report(err, SMBD_EINVAL,
                  "smbd_register_buffer: memory and buffer must not be NULL, length not 0");
  }
  *buffer = nullptr;
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return BadHandle(err, "smbd_register_buffer");
  absl::StatusOr<std::unique_ptr<RegisteredBuffer>> r =
      h->client->RegisterBuffer(absl::MakeSpan(static_cast<uint8_t*>(memory), length));
  if (!r.ok()) return Report(err, r.status());
  auto b = std::make_shared<smbd_buffer>();
  b->owner = std::move(h);
  b->registration = *std::move(r);
  *buffer = HandleTable::Get().Add(std::move(b));
  return Report(err, SMBD_OK, "");
}

smbd_status smbd_unregister_buffer(smbd_buffer* buffer, smbd_error* err) {
  std::shared_ptr<smbd_buffer> h = HandleTable::Get().Remove(buffer);
  if (h == nullptr) return BadHandle(err, "smbd_unregister_buffer");
  return Report(err, SMBD_OK, "");
}

const char* smbd_client_rdma_note(smbd_client* client) {
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return nullptr;
  return h->rdma_note.c_str();
}

smbd_status smbd_open(smbd_client* client, const char* path, int flags, smbd_file** file,
                      smbd_error* err) {
  using namespace smbd;  // NOLINT: the C API's body
  if (path == nullptr || file == nullptr) {
    return Report(err, SMBD_EINVAL, "smbd_open: path and file must not be NULL");
  }
  *file = nullptr;
  if (RefuseInCallback(err, "smbd_open")) return SMBD_EINVAL;
  std::shared_ptr<smbd_client> h = HandleTable::Get().Find(client);
  if (h == nullptr) return BadHandle(err, "smbd_open");
  OpenOptions oo;
  oo.write = (flags & SMBD_O_WRITE) != 0;
  oo.read = (flags & SMBD_O_READ) != 0 || !oo.write;
  const bool create = (flags & SMBD_O_CREATE) != 0, trunc = (flags & SMBD_O_TRUNC) != 0;
  if ((flags & SMBD_O_EXCL) != 0 && !create) {
    return Report(err, SMBD_EINVAL, "smbd_open: SMBD_O_EXCL needs SMBD_O_CREATE");
  }
  if (trunc && !oo.write) return Report(err, SMBD_EINVAL, "smbd_open: SMBD_O_TRUNC needs SMBD_O_WRITE");
  // [MS-SMB2] 2.2.13 CreateDisposition.
  oo.disposition = (flags & SMBD_O_EXCL) != 0 ? kFileCreate
                   : create && trunc          ? kFileOverwriteIf
                   : create                   ? kFileOpenIf
                   : trunc                    ? kFileOverwrite
                                              : kFileOpen;
  if (h->client->reconnects()) MakeDurable(&oo, h->client->options().reconnect.max_outage);
  absl::StatusOr<std::unique_ptr<File>> f = h->tree->Open(path, oo);
  if (!f.ok()) return Report(err, f.status());
  auto fh = std::make_shared<smbd_file>();
  fh->owner = std::move(h);
  fh->file = *std::move(f);
  *file = HandleTable::Get().Add(std::move(fh));
  return Report(err, SMBD_OK, "");
}

smbd_status smbd_close(smbd_file* file, smbd_error* err) {
  if (RefuseInCallback(err, "smbd_close")) return SMBD_EINVAL;
  std::shared_ptr<smbd_file> h = HandleTable::Get().Remove(file);
  if (h == nullptr) return BadHandle(err, "smbd_close");
  // The last holder sees the CLOSE's result; otherwise the handle closes when the other
  // thread's call returns.
  if (h.use_count() == 1) return Report(err, h->file->Close());
  return Report(err, SMBD_OK, "");
}

smbd_status smbd_read(smbd_file* file, uint64_t offset, void* buffer, size_t length,
                      size_t* done, smbd_error* err) {
  if (done != nullptr) *done = 0;
  if (buffer == nullptr && length > 0) return Report(err, SMBD_EINVAL, "smbd_read: NULL buffer");
  return Call(file, err, "smbd_read", [&](smbd_file& h) -> absl::Status {
    absl::StatusOr<uint64_t> n =
        h.file->Read(offset, absl::MakeSpan(static_cast<uint8_t*>(buffer), length));
    if (!n.ok()) return n.status();
    if (done != nullptr) *done = static_cast<size_t>(*n);
    return absl::OkStatus();
  });
}

smbd_status smbd_write(smbd_file* file, uint64_t offset, const void* buffer, size_t length,
                       smbd_error* err) {
  if (buffer == nullptr && length > 0) return Report(err, SMBD_EINVAL, "smbd_write: NULL buffer");
  return Call(file, err, "smbd_write", [&](smbd_file& h) {
    return h.file->Write(offset,
                         absl::MakeConstSpan(static_cast<const uint8_t*>(buffer), length));
  });
}

smbd_status smbd_read_async(smbd_file* file, uint64_t offset, void* buffer, size_t length,
                            smbd_read_request* request, smbd_error* err) {
  if (request == nullptr || request->callback == nullptr || (buffer == nullptr && length > 0)) {
    return Report(err, SMBD_EINVAL, "smbd_read_async: request, its callback and buffer are needed");
  }
  std::shared_ptr<smbd_file> h = HandleTable::Get().Find(file);
  if (h == nullptr) return BadHandle(err, "smbd_read_async");
  absl::Status s = h->file->ReadAsync(
      offset, absl::MakeSpan(static_cast<uint8_t*>(buffer), length),
      [](void* arg, absl::StatusOr<uint32_t> result) {
        auto* req = static_cast<smbd_read_request*>(arg);
        const bool outer = smbd::t_in_callback;
        smbd::t_in_callback = true;
        req->callback(req, result.ok() ? SMBD_OK : smbd::StatusCode(result.status()),
                      result.ok() ? *result : 0);
        smbd::t_in_callback = outer;
      },
      request);
  return Report(err, s);
}

size_t smbd_max_read(smbd_file* file) {
  std::shared_ptr<smbd_file> h = HandleTable::Get().Find(file);
  return h == nullptr ? 0 : h->file->MaxAsyncRead(UINT64_MAX);
}

smbd_status smbd_write_async(smbd_file* file, uint64_t offset, const void* buffer, size_t length,
                             smbd_write_request* request, smbd_error* err) {
  if (request == nullptr || request->callback == nullptr || (buffer == nullptr && length > 0)) {
    return Report(err, SMBD_EINVAL,
                  "smbd_write_async: request, its callback and buffer are needed");
  }
  std::shared_ptr<smbd_file> h = HandleTable::Get().Find(file);
  if (h == nullptr) return BadHandle(err, "smbd_write_async");
  absl::Status s = h->file->WriteAsync(
      offset, absl::MakeConstSpan(static_cast<const uint8_t*>(buffer), length),
      [](void* arg, absl::Status result) {
        auto* req = static_cast<smbd_write_request*>(arg);
        const bool outer = smbd::t_in_callback;
        smbd::t_in_callback = true;
        req->callback(req, smbd::StatusCode(result));
        smbd::t_in_callback = outer;
      },
      request);
  return Report(err, s);
}

size_t smbd_max_write(smbd_file* file) {
  std::shared_ptr<smbd_file> h = HandleTable::Get().Find(file);
  return h == nullptr ? 0 : h->file->MaxAsyncWrite(UINT64_MAX);
}

smbd_status smbd_truncate(smbd_file* file, uint64_t size, smbd_error* err) {
  return Call(file, err, "smbd_truncate", [&](smbd_file& h) { return h.file->Truncate(size); });
}

smbd_status smbd_lock(smbd_file* file, uint64_t offset, uint64_t length, int flags,
                      uint32_t wait_ms, smbd_error* err) {
  using namespace smbd;  // NOLINT: the C API's body
  if ((flags & ~(SMBD_LOCK_SHARED | SMBD_LOCK_WAIT)) != 0) {
    return Report(err, SMBD_EINVAL, "smbd_lock: unknown flags");
  }
  LockOptions o;
  o.exclusive = (flags & SMBD_LOCK_SHARED) == 0;
  o.wait = (flags & SMBD_LOCK_WAIT) != 0;
  o.wait_timeout = absl::Milliseconds(wait_ms == 0 ? 30000 : wait_ms);
  return Call(file, err, "smbd_lock",
              [&](smbd_file& h) { return h.file->Lock(offset, length, o); });
}

smbd_status smbd_unlock(smbd_file* file, uint64_t offset, uint64_t length, smbd_error* err) {
  return Call(file, err, "smbd_unlock",
              [&](smbd_file& h) { return h.file->Unlock(offset, length); });
}

smbd_status smbd_flush(smbd_file* file, smbd_error* err) {
  return Call(file, err, "smbd_flush", [&](smbd_file& h) { return h.file->Flush(); });
}

smbd_status smbd_stat(smbd_client* client, const char* path, smbd_stat_t* st, smbd_error* err) {
  if (path == nullptr || st == nullptr) {
    return Report(err, SMBD_EINVAL, "smbd_stat: path and st must not be NULL");
  }
  return Call(client, err, "smbd_stat", [&](smbd_client& h) -> absl::Status {
    absl::StatusOr<smbd::FileInfo> fi = h.tree->Stat(path);
    if (!fi.ok()) return fi.status();
    *st = smbd::ToStat(*fi);
    return absl::OkStatus();
  });
}

smbd_status smbd_fstat(smbd_file* file, smbd_stat_t* st, smbd_error* err) {
  if (st == nullptr) return Report(err, SMBD_EINVAL, "smbd_fstat: st must not be NULL");
  return Call(file, err, "smbd_fstat", [&](smbd_file& h) -> absl::Status {
    absl::StatusOr<smbd::FileInfo> fi = h.file->Stat();
    if (!fi.ok()) return fi.status();
    *st = smbd::ToStat(*fi);
    return absl::OkStatus();
  });
}

smbd_status smbd_list(smbd_client* client, const char* dir, smbd_list_callback callback,
                      void* arg, smbd_error* err) {
  if (dir == nullptr || callback == nullptr) {
    return Report(err, SMBD_EINVAL, "smbd_list: dir and callback must not be NULL");
  }
  return Call(client, err, "smbd_list", [&](smbd_client& h) {
    return h.tree->ListEach(dir, [&](const smbd::FileInfo& fi) {
      const smbd_stat_t st = smbd::ToStat(fi);
      if (callback(arg, fi.name.c_str(), &st) != 0) {
        return absl::CancelledError("smbd_list: the callback stopped the listing");
      }
      return absl::OkStatus();
    });
  });
}

smbd_status smbd_mkdir(smbd_client* client, const char* path, smbd_error* err) {
  if (path == nullptr) return Report(err, SMBD_EINVAL, "smbd_mkdir: NULL path");
  return Call(client, err, "smbd_mkdir", [&](smbd_client& h) { return h.tree->Mkdir(path); });
}

smbd_status smbd_rmdir(smbd_client* client, const char* path, smbd_error* err) {
  if (path == nullptr) return Report(err, SMBD_EINVAL, "smbd_rmdir: NULL path");
  return Call(client, err, "smbd_rmdir", [&](smbd_client& h) { return h.tree->Rmdir(path); });
}

smbd_status smbd_unlink(smbd_client* client, const char* path, smbd_error* err) {
  if (path == nullptr) return Report(err, SMBD_EINVAL, "smbd_unlink: NULL path");
  return Call(client, err, "smbd_unlink", [&](smbd_client& h) { return h.tree->Delete(path); });
}

smbd_status smbd_rename(smbd_client* client, const char* from, const char* to, int replace,
                        smbd_error* err) {
  if (from == nullptr || to == nullptr) return Report(err, SMBD_EINVAL, "smbd_rename: NULL path");
  return Call(client, err, "smbd_rename",
              [&](smbd_client& h) { return h.tree->Rename(from, to, replace != 0); });
}

}  // extern "C"
