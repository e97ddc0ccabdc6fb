// `import smbd`: the client from Python (pybind11 over the C++ API).
//
//   with smbd.connect("smb://user@host/share", password="...") as c:
//       with c.open("data.bin") as f:
//           n = f.readinto(numpy_array)      # by RDMA straight into the array on SMB Direct
//
// The GIL is released for every call that talks to the server. Each call holds its own
// reference to the C++ objects, so closing from one thread while another reads is safe: the
// read finishes first. Errors raise smbd.Error subclasses (also the matching builtin: a missing
// file is a FileNotFoundError) with .ntstatus set when the server reported the error.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/credentials_file.h"
#include "smb2/client/url.h"
#include "smb2/ntstatus.h"
#include "smb2/pdu/create.h"
#include "smb2/security/algorithms.h"

namespace py = pybind11;

namespace smbd {
namespace {

// Exception classes, made at import.
struct Exceptions {
  py::object error, not_found, exists, permission, auth, timeout, cancelled, connection,
      protocol, invalid, locked;
};
Exceptions* g_exc = nullptr;

[[noreturn]] void Raise(const absl::Status& s) {
  py::object cls = g_exc->error;
  const std::optional<uint32_t> lock_nt = NtStatusOf(s);
  const bool locked =
      lock_nt == ntstatus::kLockNotGranted || lock_nt == ntstatus::kFileLockConflict;
  switch (locked ? absl::StatusCode::kOk : s.code()) {
    case absl::StatusCode::kNotFound: cls = g_exc->not_found; break;
    case absl::StatusCode::kAlreadyExists: cls = g_exc->exists; break;
    case absl::StatusCode::kPermissionDenied: cls = g_exc->permission; break;
    case absl::StatusCode::kUnauthenticated: cls = g_exc->auth; break;
    case absl::StatusCode::kDeadlineExceeded: cls = g_exc->timeout; break;
    case absl::StatusCode::kCancelled: cls = g_exc->cancelled; break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted: cls = g_exc->connection; break;
    case absl::StatusCode::kDataLoss: cls = g_exc->protocol; break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: cls = g_exc->invalid; break;
    default: break;
  }
  if (locked) cls = g_exc->locked;
  py::object e = cls(std::string(s.message()));
  const std::optional<uint32_t> nt = NtStatusOf(s);
  e.attr("ntstatus") = nt.has_value() ? py::object(py::int_(*nt)) : py::object(py::none());
  e.attr("code") = py::str(absl::StatusCodeToString(s.code()));
  PyErr_SetObject(cls.ptr(), e.ptr());
  throw py::error_already_set();
}

void Check(const absl::Status& s) {
  if (!s.ok()) Raise(s);
}
template <typename T>
T Check(absl::StatusOr<T> s) {
  if (!s.ok()) Raise(s.status());
  return *std::move(s);
}

// Runs `op(*obj)` with the GIL released (the caller's reference keeps obj alive meanwhile),
// then raises its error, if any, as an exception.
template <typename T, typename Op>
auto Unlocked(const std::shared_ptr<T>& obj, Op op) {
  auto r = [&] {
    py::gil_scoped_release nogil;
    return op(*obj);
  }();
  return Check(std::move(r));
}

// One connection, its session and the URL's share (destroyed tree first).
struct Share {
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

py::dict StatDict(const FileInfo& fi) {
  py::dict d;
  d["name"] = fi.name;
  d["size"] = fi.size;
  d["allocation_size"] = fi.allocation_size;
  d["attributes"] = fi.attributes;
  d["is_dir"] = fi.is_directory();
  // FILETIME (100 ns since 1601) to Unix seconds.
  auto unix_time = [](uint64_t ft) { return ft == 0 ? 0.0 : (ft / 1e7) - 11644473600.0; };
  d["mtime"] = unix_time(fi.last_write_time);
  d["atime"] = unix_time(fi.last_access_time);
  d["ctime"] = unix_time(fi.change_time);
  d["birthtime"] = unix_time(fi.creation_time);
  return d;
}

// A writable or readable buffer (bytearray, memoryview, numpy array...) as bytes.
struct Buffer {
  explicit Buffer(const py::buffer& b, bool writable) {
    const int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(b.ptr(), &view, flags) != 0) throw py::error_already_set();
  }
  ~Buffer() { PyBuffer_Release(&view); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data() const { return static_cast<uint8_t*>(view.buf); }
  size_t size() const { return static_cast<size_t>(view.len); }
  Py_buffer view{};
};

class PyFile {
 public:
  PyFile(std::shared_ptr<Share> owner, std::unique_ptr<File> file, std::string path)
      : owner_(std::move(owner)), file_(std::move(file)), path_(std::move(path)) {}

  // For the duration of one call: the file, or ValueError once closed.
  std::shared_ptr<File> Get() const {
    if (file_ == nullptr) throw py::value_error(absl::StrCat("I/O on closed file ", path_));
    return file_;
  }

  py::bytes Read(int64_t size, std::optional<uint64_t> offset) {
    std::shared_ptr<File> f = Get();
    const uint64_t at = offset.value_or(position_);
    uint64_t want = 0;
    if (size < 0) {
      FileInfo fi;
      {
        py::gil_scoped_release nogil;
        fi = Check(f->Stat());
      }
      want = fi.size > at ? fi.size - at : 0;
    } else {
      want = static_cast<uint64_t>(size);
    }
    std::string out(want, '\0');
    absl::StatusOr<uint64_t> r = [&] {
      py::gil_scoped_release nogil;
      return f->Read(at, absl::MakeSpan(reinterpret_cast<uint8_t*>(out.data()), out.size()));
    }();
    const uint64_t n = Check(std::move(r));
    out.resize(n);
    if (!offset.has_value()) position_ = at + n;
    return py::bytes(out);
  }

  uint64_t ReadInto(const py::buffer& buffer, std::optional<uint64_t> offset) {
    std::shared_ptr<File> f = Get();
    Buffer b(buffer, true);
    const uint64_t at = offset.value_or(position_);
    absl::StatusOr<uint64_t> r;
    {
      py::gil_scoped_release nogil;
      r = f->Read(at, absl::MakeSpan(b.data(), b.size()));
    }
    const uint64_t n = Check(std::move(r));
    if (!offset.has_value()) position_ = at + n;
    return n;
  }

  uint64_t Write(const py::buffer& buffer, std::optional<uint64_t> offset) {
    std::shared_ptr<File> f = Get();
    Buffer b(buffer, false);
    const uint64_t at = offset.value_or(position_);
    absl::Status s;
    {
      py::gil_scoped_release nogil;
      s = f->Write(at, absl::MakeConstSpan(b.data(), b.size()));
    }
    Check(s);
    if (!offset.has_value()) position_ = at + b.size();
    return b.size();
  }

  template <typename Op>
  auto Blocking(Op op) {
    return Unlocked(Get(), op);
  }

  void Close() {
    if (file_ == nullptr) return;
    std::shared_ptr<File> f = std::move(file_);
    absl::Status s;
    if (f.use_count() == 1) {
      py::gil_scoped_release nogil;
      s = f->Close();
    }
    Check(s);
  }

  uint64_t position_ = 0;
  bool closed() const { return file_ == nullptr; }

 private:
  std::shared_ptr<Share> owner_;  // outlives the file
  std::shared_ptr<File> file_;
  std::string path_;
};

// A buffer registered with the connection (Client::RegisterBuffer): holds the Python buffer
// (so its memory stays put) and the registration; release() or the with-block's end drops the
// registration, which must happen when no read or write in the buffer runs.
class PyRegistered {
 public:
  PyRegistered(std::shared_ptr<Share> owner, const py::buffer& buffer)
      : owner_(std::move(owner)), buffer_(std::make_unique<Buffer>(buffer, true)) {
    absl::StatusOr<std::unique_ptr<RegisteredBuffer>> r = owner_->client->RegisterBuffer(
        absl::MakeSpan(buffer_->data(), buffer_->size()));
    registration_ = Check(std::move(r));
  }
  void Release() {
    registration_.reset();
    buffer_.reset();
    owner_.reset();
  }
  bool released() const { return registration_ == nullptr; }
  size_t size() const { return buffer_ == nullptr ? 0 : buffer_->size(); }

 private:
  std::shared_ptr<Share> owner_;  // the connection outlives the registration
  std::unique_ptr<Buffer> buffer_;
  std::unique_ptr<RegisteredBuffer> registration_;
};

class PyClient {
 public:
  explicit PyClient(std::shared_ptr<Share> c) : c_(std::move(c)) {}

  std::shared_ptr<Share> Get() const {
    if (c_ == nullptr) throw py::value_error("the connection is closed");
    return c_;
  }

  PyFile Open(const std::string& path, const std::string& mode) {
    std::shared_ptr<Share> c = Get();
    OpenOptions o;
    // Python's modes: r (read), r+ (read/write), w (create, truncate), a is not offered, x
    // (create, must not exist); 'b' is implied.
    std::string m = mode;
    m.erase(std::remove(m.begin(), m.end(), 'b'), m.end());
    if (m == "r") {
      o.read = true;
    } else if (m == "r+") {
      o.read = o.write = true;
    } else if (m == "w" || m == "w+") {
      o.read = true;
      o.write = true;
      o.disposition = kFileOverwriteIf;
    } else if (m == "x" || m == "x+") {
      o.read = true;
      o.write = true;
      o.disposition = kFileCreate;
    } else {
      throw py::value_error(absl::StrCat("mode '", mode, "': use r, r+, w, w+, x or x+"));
    }
    // With reconnection on, files are opened so that they can come back after a drop.
    if (c->client->reconnects()) MakeDurable(&o, c->client->options().reconnect.max_outage);
    absl::StatusOr<std::unique_ptr<File>> f;
    {
      py::gil_scoped_release nogil;
      f = c->tree->Open(path, o);
    }
    return PyFile(c, Check(std::move(f)), path);
  }

  template <typename Op>
  auto Blocking(Op op) {
    return Unlocked(Get(), op);
  }

  void Close() { c_.reset(); }
  std::string transport() const { return Get()->client->connection()->transport()->name(); }
  std::string rdma_note() const { return Get()->session->RdmaChannelNote(); }
  std::string auth_note() const { return Get()->session->auth_note(); }
  std::string auth_mechanism() const { return Get()->session->auth_mechanism(); }
  std::string multichannel_note() const { return Get()->client->multichannel_note(); }
  // Per channel: (address, bytes read, bytes written, up); the first connection's address is "".
  std::vector<std::tuple<std::string, uint64_t, uint64_t, bool>> channels() const {
    std::vector<std::tuple<std::string, uint64_t, uint64_t, bool>> out;
    for (const ChannelInfo& ch : Get()->client->channels()) {
      out.emplace_back(ch.address, ch.bytes_read, ch.bytes_written, ch.up);
    }
    return out;
  }
  PyRegistered Register(const py::buffer& buffer) { return PyRegistered(Get(), buffer); }
  void Cancel() { Get()->client->Cancel(); }

 private:
  std::shared_ptr<Share> c_;
};

// A Status-returning call as one that returns something, for Blocking().
template <typename F>
auto AsStatusOr(F f) {
  return [f](auto& x) -> absl::StatusOr<bool> {
    absl::Status s = f(x);
    if (!s.ok()) return s;
    return true;
  };
}

PyClient Connect(const std::string& url, std::optional<std::string> password,
                 const std::string& transport, bool sign, bool seal,
                 std::optional<std::string> cipher, double timeout, bool guest, bool anonymous,
                 std::optional<std::string> credentials_file,
                 std::optional<std::string> rdma_device, std::optional<std::string> user,
                 const std::string& kerberos, std::optional<std::string> kerberos_principal,
                 double reconnect, int channels) {
  absl::StatusOr<SmbUrl> parsed = ParseSmbUrl(url);
  if (!parsed.ok()) {
    throw py::value_error(absl::StrCat("bad URL ", RedactUrlText(url), ": ",
                                       parsed.status().message()));
  }
  if (parsed->share.empty()) throw py::value_error("the URL names no share");
  ConnectSpec spec;
  spec.host = parsed->host;
  spec.port = parsed->port;
  spec.transport = Check(ParseTransportChoice(transport));
  if (rdma_device.has_value()) spec.rdma_device = *rdma_device;
  spec.client.require_signing = sign;
  spec.client.require_encryption = seal;
  if (!(timeout > 0 && timeout <= 86400)) throw py::value_error("timeout: 0 < seconds <= 86400");
  spec.client.request_timeout = absl::Seconds(timeout);
  if (!(reconnect >= 0 && reconnect <= 86400)) {
    throw py::value_error("reconnect: 0 <= seconds <= 86400");
  }
  spec.client.reconnect.max_outage = absl::Seconds(reconnect);
  if (channels < 1 || channels > 16) throw py::value_error("channels: 1 to 16");
  spec.client.multichannel.max_channels = static_cast<uint32_t>(channels);
  if (cipher.has_value()) {
    const std::optional<Cipher> pick = CipherFromName(*cipher);
    if (!pick.has_value()) throw py::value_error(absl::StrCat("unknown cipher '", *cipher, "'"));
    std::vector<Cipher> pref = {*pick};
    for (Cipher c : spec.client.ciphers) {
      if (c != *pick) pref.push_back(c);
    }
    spec.client.ciphers = pref;
  }
  Credentials creds;
  creds.guest = guest;
  creds.anonymous = anonymous;
  creds.user = user.value_or(parsed->user);
  creds.domain = parsed->domain;
  if (kerberos == "auto") {
    creds.kerberos = KerberosUse::kAuto;
  } else if (kerberos == "require") {
    creds.kerberos = KerberosUse::kRequire;
  } else if (kerberos == "never") {
    creds.kerberos = KerberosUse::kNever;
  } else {
    throw py::value_error("kerberos: 'auto', 'require' or 'never'");
  }
  if (kerberos_principal.has_value()) creds.kerberos_principal = *kerberos_principal;
  if (password.has_value()) {
    creds.password = SecretBytes::FromString(*password);
  } else if (credentials_file.has_value()) {
    CredentialsFile f = Check(ReadCredentialsFile(*credentials_file));
    if (!user.has_value() && !f.user.empty()) creds.user = f.user;
    if (!f.domain.empty()) creds.domain = f.domain;
    creds.password = std::move(f.password);
  } else if (parsed->has_password) {
    creds.password = SecretBytes::FromString(parsed->password);
  }
  auto c = std::make_shared<Share>();
  absl::Status s;
  {
    py::gil_scoped_release nogil;
    s = [&]() -> absl::Status {
      absl::StatusOr<std::unique_ptr<Client>> client = ConnectClient(spec, nullptr);
      if (!client.ok()) return client.status();
      c->client = *std::move(client);
      absl::StatusOr<std::unique_ptr<Session>> session = c->client->Login(creds);
      if (!session.ok()) return session.status();
      c->session = *std::move(session);
      absl::StatusOr<std::unique_ptr<Tree>> tree = c->session->TreeConnect(parsed->share);
      if (!tree.ok()) return tree.status();
      c->tree = *std::move(tree);
      return absl::OkStatus();
    }();
  }
  Check(s);
  return PyClient(std::move(c));
}

}  // namespace
}  // namespace smbd

PYBIND11_MODULE(smbd, m) {
  using smbd::PyClient;
  using smbd::PyFile;
  m.doc() = "SMB2/SMB3 client over SMB Direct (RDMA) and TCP";
  m.attr("__version__") = "0.2.0";

  static smbd::Exceptions exc;
  py::object builtins = py::module_::import("builtins");
  py::object type = builtins.attr("type");
  auto make = [&](const char* name, py::tuple bases, const char* doc) {
    py::dict ns;
    ns["__doc__"] = doc;
    ns["__module__"] = "smbd";
    py::object cls = type(name, bases, ns);
    m.attr(name) = cls;
    return cls;
  };
  exc.error = make("Error", py::make_tuple(builtins.attr("OSError")),
                   "An error from the client or the server; .ntstatus is the server's NTSTATUS "
                   "(or None), .code the absl status code name.");
  exc.not_found = make("NotFoundError",
                       py::make_tuple(exc.error, builtins.attr("FileNotFoundError")),
                       "No such file, directory or share.");
  exc.exists = make("ExistsError", py::make_tuple(exc.error, builtins.attr("FileExistsError")),
                    "It exists already.");
  exc.permission = make("PermissionDeniedError",
                        py::make_tuple(exc.error, builtins.attr("PermissionError")),
                        "Access denied, or a session that cannot be signed or sealed as asked.");
  exc.auth = make("AuthenticationError", py::make_tuple(exc.error),
                  "Logon failed, or a server that did not prove it knows the password.");
  exc.timeout = make("TimeoutError", py::make_tuple(exc.error, builtins.attr("TimeoutError")),
                     "No answer within the timeout.");
  exc.cancelled = make("CancelledError", py::make_tuple(exc.error), "Client.cancel() ended it.");
  exc.connection = make("ConnectionError",
                        py::make_tuple(exc.error, builtins.attr("ConnectionError")),
                        "Cannot connect, or the connection was lost.");
  exc.protocol = make("ProtocolError", py::make_tuple(exc.error),
                      "The server broke the protocol.");
  exc.invalid = make("InvalidArgumentError", py::make_tuple(exc.error, builtins.attr("ValueError")),
                     "A bad argument.");
  exc.locked = make("LockedError", py::make_tuple(exc.error, builtins.attr("BlockingIOError")),
                    "A byte-range lock is in the way.");
  smbd::g_exc = &exc;

  py::class_<PyFile>(m, "File")
      .def("read", &PyFile::Read, py::arg("size") = -1, py::arg("offset") = py::none(),
           "Reads size bytes (all to the end when negative) at offset, or at the position.")
      .def("readinto", &PyFile::ReadInto, py::arg("buffer"), py::arg("offset") = py::none(),
           "Reads into any writable contiguous buffer (bytearray, memoryview, numpy array); "
           "returns the bytes read. On SMB Direct the server places them by RDMA.")
      .def("write", &PyFile::Write, py::arg("buffer"), py::arg("offset") = py::none())
      .def("seek", [](PyFile& f, uint64_t pos) { f.position_ = pos; return pos; })
      .def("tell", [](PyFile& f) { return f.position_; })
      .def("truncate", [](PyFile& f, uint64_t size) {
        f.Blocking(smbd::AsStatusOr([size](smbd::File& x) { return x.Truncate(size); }));
      })
      .def("lock", [](PyFile& f, uint64_t offset, uint64_t length, bool exclusive, bool wait,
                      double timeout) {
             if (!(timeout > 0 && timeout <= 86400)) {
               throw py::value_error("timeout: 0 < seconds <= 86400");
             }
             smbd::LockOptions o;
             o.exclusive = exclusive;
             o.wait = wait;
             o.wait_timeout = absl::Seconds(timeout);
             f.Blocking(smbd::AsStatusOr(
                 [&](smbd::File& x) { return x.Lock(offset, length, o); }));
           },
           py::arg("offset"), py::arg("length"), py::kw_only(), py::arg("exclusive") = true,
           py::arg("wait") = false, py::arg("timeout") = 30.0,
           "Byte-range lock for this handle; a conflict raises smbd.LockedError (a "
           "BlockingIOError) at once, or with wait=True after `timeout` seconds smbd.TimeoutError.")
      .def("unlock", [](PyFile& f, uint64_t offset, uint64_t length) {
             f.Blocking(smbd::AsStatusOr(
                 [&](smbd::File& x) { return x.Unlock(offset, length); }));
           }, py::arg("offset"), py::arg("length"))
      .def("flush", [](PyFile& f) {
        f.Blocking(smbd::AsStatusOr([](smbd::File& x) { return x.Flush(); }));
      })
      .def("stat", [](PyFile& f) {
        return smbd::StatDict(f.Blocking([](smbd::File& x) { return x.Stat(); }));
      })
      .def("close", &PyFile::Close)
      .def_property_readonly("closed", &PyFile::closed)
      .def("__enter__", [](PyFile& f) -> PyFile& { return f; })
      .def("__exit__", [](PyFile& f, py::args) { f.Close(); });

  py::class_<smbd::PyRegistered>(m, "RegisteredBuffer")
      .def("release", &smbd::PyRegistered::Release)
      .def_property_readonly("released", &smbd::PyRegistered::released)
      .def("__len__", &smbd::PyRegistered::size)
      .def("__enter__", [](smbd::PyRegistered& r) -> smbd::PyRegistered& { return r; })
      .def("__exit__", [](smbd::PyRegistered& r, py::args) { r.Release(); });

  py::class_<PyClient>(m, "Client")
      .def("open", &PyClient::Open, py::arg("path"), py::arg("mode") = "r")
      .def("stat", [](PyClient& c, const std::string& path) {
        return smbd::StatDict(
            c.Blocking([&](smbd::Share& x) { return x.tree->Stat(path); }));
      })
      .def("listdir", [](PyClient& c, const std::string& path) {
        std::vector<smbd::FileInfo> entries =
            c.Blocking([&](smbd::Share& x) { return x.tree->List(path); });
        std::vector<std::string> names;
        for (const smbd::FileInfo& e : entries) names.push_back(e.name);
        return names;
      }, py::arg("path") = "")
      .def("mkdir", [](PyClient& c, const std::string& p) {
        c.Blocking(smbd::AsStatusOr([&](smbd::Share& x) { return x.tree->Mkdir(p); }));
      })
      .def("rmdir", [](PyClient& c, const std::string& p) {
        c.Blocking(smbd::AsStatusOr([&](smbd::Share& x) { return x.tree->Rmdir(p); }));
      })
      .def("remove", [](PyClient& c, const std::string& p) {
        c.Blocking(smbd::AsStatusOr([&](smbd::Share& x) { return x.tree->Delete(p); }));
      })
      .def("rename", [](PyClient& c, const std::string& from, const std::string& to,
                        bool replace) {
        c.Blocking(smbd::AsStatusOr(
            [&](smbd::Share& x) { return x.tree->Rename(from, to, replace); }));
      }, py::arg("src"), py::arg("dst"), py::arg("replace") = false)
      .def("cancel", &PyClient::Cancel)
      .def_property_readonly("transport", &PyClient::transport)
      .def_property_readonly("auth_mechanism", &PyClient::auth_mechanism,
                             "'Kerberos', 'NTLM', 'guest' or 'anonymous'.")
      .def_property_readonly("auth_note", &PyClient::auth_note,
                             "How the session was authenticated, and why not Kerberos.")
      .def_property_readonly("multichannel_note", &PyClient::multichannel_note,
                             "The channels in use (connect(channels=N)), or why there is one.")
      .def_property_readonly("channels", &PyClient::channels,
                             "[(address, bytes_read, bytes_written, up)] per connection; the "
                             "first connection's address is ''.")
      .def_property_readonly("rdma_note", &PyClient::rdma_note,
                             "Whether reads and writes use the RDMA channel, and how or why not.")
      .def("register", &PyClient::Register, py::arg("buffer"),
           "Registers a writable buffer (bytearray, numpy array...) once for many reads and "
           "writes: over SMB Direct small writes from it are not copied and, where the "
           "connection binds memory windows, RDMA I/O in it needs no registration of its own. "
           "Use as a context manager, or call release() when no I/O in it runs.")
      .def("close", &PyClient::Close)
      .def("__enter__", [](PyClient& c) -> PyClient& { return c; })
      .def("__exit__", [](PyClient& c, py::args) { c.Close(); });

  m.def("connect", &smbd::Connect, py::arg("url"), py::kw_only(),
        py::arg("password") = py::none(), py::arg("transport") = "auto",
        py::arg("sign") = false, py::arg("seal") = false, py::arg("cipher") = py::none(),
        py::arg("timeout") = 60.0, py::arg("guest") = false, py::arg("anonymous") = false,
        py::arg("credentials_file") = py::none(), py::arg("rdma_device") = py::none(),
        py::arg("user") = py::none(), py::arg("kerberos") = "auto",
        py::arg("kerberos_principal") = py::none(), py::arg("reconnect") = 0.0,
        py::arg("channels") = 1,
        "Connects to smb://[domain;][user[:password]@]host[:port]/share, logs on and "
        "connects the share. transport: auto (SMB Direct, else TCP), rdma or tcp. kerberos: "
        "auto (a ticket from kinit when the server offers Kerberos, else NTLM), require, or "
        "never; kerberos_principal: the server's principal (default cifs/HOST). reconnect: "
        "seconds of outage to survive (0: a dropped connection is an error); files "
        "are then opened durable, with a lease, and come back after the reconnect. channels: "
        "multichannel, connections in all (extra ones to the other interfaces the server "
        "lists; 1: one connection).");
}
