// smbd-cat: read files from an SMB2/3 server to stdout or a file, like cat/curl.
//
//   smbd-cat [options] smb://[domain;][user@]host[:port]/share/path [more URLs]
//
// See --help (kUsage below) for options and exit codes.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/credentials_file.h"
#include "smb2/client/url.h"
#include "smb2/ntstatus.h"
#include "smb2/security/kerberos.h"
#include "tools/flags.h"

namespace smbd {
namespace {

// Exit codes (documented in --help and README.md).
enum Exit : int {
  kExitOk = 0,
  kExitUsage = 2,
  kExitConnect = 3,
  kExitAuth = 4,
  kExitNotFound = 5,
  kExitAccess = 6,
  kExitIo = 7,
  kExitInterrupted = 130,  // 128 + SIGINT; SIGTERM gives 143
};

constexpr char kUsage[] = R"(NAME
    smbd-cat - read files from an SMB2/SMB3 server (SMB Direct or TCP)

SYNOPSIS
    smbd-cat [OPTIONS] smb://[domain;][user@]host[:port]/share/path [URL...]

DESCRIPTION
    Reads each URL's file and writes the bytes to standard output (or -o FILE), in order.
    Large files are read with many requests in flight (--window, --depth).

OPTIONS
    -U, --user USER[%PASSWORD]  user name (default: from the URL); a password here is visible
                                to other users of the machine until smbd-cat masks it at
                                start: prefer SMBD_PASSWORD
    --credentials FILE          smbclient authentication file (username=, password=, domain=)
    --anonymous                 anonymous (null) session
    --guest                     guest session (without it, a server that logs a user in as
                                guest or anonymous is refused: exit 4)
    --kerberos                  require Kerberos (a ticket from kinit; never NTLM)
    --no-kerberos               never Kerberos (NTLM with the password). Default: Kerberos
                                when the server offers it and there is a ticket for the
                                user (any user if none is given), NTLM otherwise
    --kerberos-principal P      the server's principal (default cifs/HOST, HOST as typed in
                                the URL; cifs/HOST@REALM for another realm)
    --transport auto|rdma|tcp   auto (default): SMB Direct, else TCP with one line on stderr
                                saying why; rdma: SMB Direct or fail; tcp: never touches RDMA
    --rdma-device NAME          RDMA device to use (default: chosen by the server's address)
    --rdma-registration auto|per-io|windows
                                how the server is given access to an RDMA-channel I/O's
                                bytes: auto (default) binds a memory window per I/O over the
                                read window, registered once, where the device's windows
                                isolate (not rxe), else registers each I/O (ibv_reg_mr);
                                per-io always registers each I/O; windows forces windows
                                (function tests: on rxe a window reaches its whole region)
    --dialect D                 highest dialect: 2.0.2 2.1 3.0 3.0.2 3.1.1 (default 3.1.1)
    --sign                      require signing (default: only if the server requires it;
                                a signed session keeps data inline, off the RDMA channel)
    --seal                      require encryption
    --cipher C                  aes-128-gcm aes-128-ccm aes-256-gcm aes-256-ccm (prefer C)
    --offset N                  start at byte N
    --length N                  read at most N bytes
    -o, --output FILE           write to FILE instead of standard output
    --continue                  with -o: resume after the bytes FILE already has
    --window BYTES              bytes in flight (default 16M); suffixes K, M, G
    --depth N                   requests in flight (instead of --window)
    --io-size BYTES             largest single READ (default 1M; 4M on the RDMA channel)
    --stat                      print size, attributes and times instead of the data
    --list                      list the directory the URL names, one name per line
    -l                          with --list: long form (type, size, modified, name)
    --verify-sha256 HEX         fail (exit 7) unless the bytes read have this SHA-256
    --timeout SECONDS           per-request timeout (default 60)
    --reconnect SECONDS         survive a dropped connection: reconnect, log on again,
                                reopen the file (opened durable, with a lease) and go on
                                reading, for an outage of up to SECONDS (default 0: a drop
                                ends the read, exit 7)
    --channels N                multichannel: up to N connections in all, the extra ones to
                                the other interfaces the server lists, reads spread over them
                                by link speed; a channel that drops is left out and its reads
                                go on the others (default 1: one connection). With --transport
                                auto: TCP first, then SMB Direct channels to the server's
                                RDMA-capable interfaces, which carry the reads
    --progress                  show progress on standard error even if it is not a terminal
    -q, --quiet                 print nothing but errors
    -v, --verbose               say on standard error which transport is used and why, and
                                whether and how the RDMA channel is used (or why not)
    --stats                     after each file, one line on standard error: the transport,
                                bytes read, and how many of them the server placed by RDMA
                                (and, after a --reconnect, how often and what was replayed;
                                with --channels, the bytes each channel carried)
    -h, --help                  this text

ENVIRONMENT
    SMBD_PASSWORD               the password (preferred over -U user%password)
    KRB5CCNAME, KRB5_CONFIG     Kerberos ticket cache and configuration (MIT krb5);
    KRB5_CLIENT_KTNAME          a client keytab, for services without a password

EXIT STATUS
    0 success; 2 usage; 3 cannot connect; 4 authentication failed; 5 not found;
    6 access denied; 7 I/O or protocol error (including a SHA-256 mismatch); 130 interrupted
    (SIGINT, Ctrl-C); 143 terminated (SIGTERM)

SIGNALS
    SIGINT (Ctrl-C) or SIGTERM cancels the requests in flight (SMB2 CANCEL), closes the file,
    logs off and exits 130 (143 for SIGTERM). A second one, or a cleanup that takes more than 5
    seconds (e.g. a blocked output), exits at once; so does one at the password prompt.
)";

// Ctrl-C handling: SIGINT/SIGTERM are blocked in every thread and taken by one thread with
// sigwait(), which may then do what a signal handler cannot: send SMB2 CANCELs.
std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0};  // the signal that interrupted us
std::atomic<int> g_cancelled{0};  // CANCELs sent on interrupt
std::mutex g_client_mu;
Client* g_client = nullptr;  // the client in use, for the signal thread (under g_client_mu)
std::mutex g_tty_mu;
int g_tty_fd = -1;  // terminal whose echo is off (password prompt): restore before leaving
termios g_tty{};
constexpr int kGraceSeconds = 5;

// Makes `client` the one an interrupt cancels, for the life of this object.
class PublishClient {
 public:
  explicit PublishClient(Client* c) {
    std::lock_guard<std::mutex> l(g_client_mu);
    g_client = c;
  }
  ~PublishClient() {
    std::lock_guard<std::mutex> l(g_client_mu);
    g_client = nullptr;
  }
};

// The exit status for an interrupt: 128 + the signal, as shells report it.
int InterruptedExit() {
  const int sig = g_signal.load();
  return 128 + (sig != 0 ? sig : SIGINT);
}

[[noreturn]] void ExitNow() {
  {
    std::lock_guard<std::mutex> l(g_tty_mu);
    if (g_tty_fd >= 0) tcsetattr(g_tty_fd, TCSAFLUSH, &g_tty);
  }
  static const char kMsg[] = "\nsmbd-cat: interrupted\n";
  (void)!write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  _exit(InterruptedExit());
}

void SignalThread(sigset_t set) {
  int sig = 0;
  if (sigwait(&set, &sig) != 0) return;
  g_signal = sig;
  g_interrupted = true;
  bool prompting, connected;
  {
    std::lock_guard<std::mutex> l(g_tty_mu);
    prompting = g_tty_fd >= 0;
  }
  {
    std::lock_guard<std::mutex> l(g_client_mu);
    connected = g_client != nullptr;
  }
  // At the password prompt (a blocked read of the terminal), or with nothing on the wire to
  // clean up: leave now.
  if (prompting || !connected) ExitNow();
  // The CANCELs go out from their own thread: a send can block (behind a stalled frame) and
  // the grace period below must run regardless.
  std::thread([] {
    std::lock_guard<std::mutex> l(g_client_mu);
    if (g_client != nullptr) g_cancelled = g_client->Cancel();
  }).detach();
  // The main thread now drains what is in flight, closes the file and logs off. A second
  // signal, or a cleanup stuck for kGraceSeconds, ends the process at once.
  timespec grace{kGraceSeconds, 0};
  siginfo_t info;
  (void)sigtimedwait(&set, &info, &grace);
  ExitNow();
}

struct Options {
  std::vector<std::string> urls;
  std::string user, password, domain;
  bool has_password = false;
  bool anonymous = false, guest = false;
  KerberosUse kerberos = KerberosUse::kAuto;
  std::string kerberos_principal;
  std::string transport = "auto";
  std::string rdma_device;
  uint16_t max_dialect = kDialect311;
  bool sign = false, seal = false;
  std::string cipher;
  uint64_t offset = 0, length = UINT64_MAX;
  std::string output;
  bool resume = false;
  uint64_t window = 16 << 20;
  uint64_t depth = 0;  // 0: use window
  uint64_t io_size = 1 << 20;
  bool io_size_set = false;
  bool stat = false;
  bool list = false, long_list = false;
  std::string sha256;
  int timeout_s = 60;
  int reconnect_s = 0;
  int channels = 1;
  bool progress = false, quiet = false, stats = false, verbose = false;
  RdmaRegistrationMode registration = RdmaRegistrationMode::kAuto;
};

// Whether a Kerberos ticket is present for `user` (any user if empty).
bool KerberosTicketFor(const std::string& user) {
  absl::StatusOr<std::string> principal = KerberosDefaultPrincipal();
  return principal.ok() && KerberosPrincipalIsUser(*principal, user);
}

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "smbd-cat: %.*s\n", static_cast<int>(message.size()), message.data());
  return code;
}

int ExitFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnauthenticated: return kExitAuth;
    case absl::StatusCode::kNotFound: return kExitNotFound;
    case absl::StatusCode::kPermissionDenied: return kExitAccess;
    case absl::StatusCode::kCancelled: return g_interrupted ? InterruptedExit() : kExitIo;
    default: return kExitIo;
  }
}

// Overwrites a secret's bytes (OPENSSL_cleanse cannot be optimized away) and empties it.
void Wipe(std::string* s) {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

// Masks, in the process's own argv, a password given on the command line, so that ps and
// /proc/PID/cmdline stop showing it once we have read it (other users could read it
// in the moment before, which is why the help text discourages it).
void MaskArgvSecrets(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* a = argv[i];
    const bool user_value =
        i > 1 && (std::strcmp(argv[i - 1], "-U") == 0 || std::strcmp(argv[i - 1], "--user") == 0);
    if (user_value) {
      if (char* pct = std::strchr(a, '%')) {
        for (char* p = pct + 1; *p != '\0'; ++p) *p = '*';
      }
      continue;
    }
    char* scheme = std::strstr(a, "://");
    if (scheme == nullptr) continue;
    char* start = scheme + 3;
    char* end = std::strchr(start, '/');
    if (end == nullptr) end = start + std::strlen(start);
    char* at = nullptr;
    for (char* p = start; p < end; ++p) {
      if (*p == '@') at = p;
    }
    char* colon = static_cast<char*>(std::memchr(start, ':', (at != nullptr ? at : end) - start));
    if (at != nullptr && colon != nullptr) {
      for (char* p = colon + 1; p < at; ++p) *p = '*';
    } else if (at == nullptr && colon != nullptr && *start != '[') {
      // "user:password" with the '@' forgotten: mask anything after ':' that is not a port.
      bool numeric = true;
      for (char* p = colon + 1; p < end; ++p) numeric = numeric && std::isdigit(*p);
      if (!numeric) {
        for (char* p = colon + 1; p < end; ++p) *p = '*';
      }
    }
  }
}

absl::Status ReadCredentials(const std::string& path, Options* o) {
  absl::StatusOr<CredentialsFile> file = ReadCredentialsFile(path);
  if (!file.ok()) return file.status();
  if (file->readable_by_others) {
    std::fprintf(stderr, "smbd-cat: warning: %s is readable by others\n", path.c_str());
  }
  if (!file->user.empty()) o->user = file->user;
  if (!file->domain.empty()) o->domain = file->domain;
  if (file->has_password) {
    Wipe(&o->password);
    o->password.assign(reinterpret_cast<const char*>(file->password.data()),
                       file->password.size());
    o->has_password = true;
  }
  return absl::OkStatus();
}

std::string PromptPassword(const std::string& user) {
  int fd = open("/dev/tty", O_RDWR);
  if (fd < 0) return "";
  std::string prompt = absl::StrCat("Password for ", user, ": ");
  (void)!write(fd, prompt.data(), prompt.size());
  termios old{}, quiet{};
  tcgetattr(fd, &old);
  quiet = old;
  quiet.c_lflag &= ~ECHO;
  {
    std::lock_guard<std::mutex> l(g_tty_mu);
    g_tty = old;
    g_tty_fd = fd;
    tcsetattr(fd, TCSAFLUSH, &quiet);
  }
  std::string pw;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') pw.push_back(c);
  {
    std::lock_guard<std::mutex> l(g_tty_mu);
    tcsetattr(fd, TCSAFLUSH, &old);
    g_tty_fd = -1;
  }
  (void)!write(fd, "\n", 1);
  close(fd);
  return pw;
}

// Writes all of `data` to fd, retrying short writes. EPIPE (reader went away, e.g. `| head`)
// is reported as Cancelled so that the caller exits quietly.
absl::Status WriteAll(int fd, absl::Span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        if (g_interrupted) return absl::CancelledError("interrupted");
        continue;
      }
      if (errno == EPIPE) return absl::CancelledError("output closed");
      return absl::InternalError(absl::StrCat("write: ", strerror(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

class Progress {
 public:
  Progress(bool enabled, uint64_t total) : enabled_(enabled), total_(total), start_(absl::Now()) {}
  void Add(uint64_t n) {
    done_ += n;
    if (!enabled_) return;
    absl::Time now = absl::Now();
    if (now - last_ < absl::Milliseconds(250)) return;
    last_ = now;
    Draw(now);
  }
  void Finish() {
    if (enabled_ && drawn_) std::fprintf(stderr, "\r\033[K");
  }
  uint64_t done() const { return done_; }

 private:
  void Draw(absl::Time now) {
    const double secs = absl::ToDoubleSeconds(now - start_);
    const double rate = secs > 0 ? done_ / secs : 0;
    std::string line = absl::StrFormat("%.1f MiB", done_ / 1048576.0);
    if (total_ != UINT64_MAX && total_ > 0) {
      const double left = rate > 0 ? (total_ - std::min(done_, total_)) / rate : 0;
      absl::StrAppendFormat(&line, " / %.1f MiB (%.0f%%)  ETA %.0fs", total_ / 1048576.0,
                            100.0 * done_ / total_, left);
    }
    absl::StrAppendFormat(&line, "  %.1f MiB/s", rate / 1048576.0);
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    drawn_ = true;
  }
  bool enabled_;
  uint64_t total_;
  uint64_t done_ = 0;
  absl::Time start_, last_ = absl::InfinitePast();
  bool drawn_ = false;
};

std::string FileTimeString(uint64_t ft) {
  if (ft == 0) return "-";
  // FILETIME: 100 ns intervals since 1601-01-01; Unix epoch is 11644473600 s later.
  const int64_t unix_s = static_cast<int64_t>(ft / 10000000) - 11644473600LL;
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(unix_s),
                          absl::UTCTimeZone());
}

int CatOne(const Options& o, const std::string& url_text, int out_fd, EVP_MD_CTX* sha,
           uint64_t resume_at) {
  absl::StatusOr<SmbUrl> url = ParseSmbUrl(url_text);
  if (!url.ok()) {
    return Fail(kExitUsage, absl::StrCat(RedactUrlText(url_text), ": ", url.status().message()));
  }
  if (url->has_password && !o.quiet) {
    std::fprintf(stderr, "smbd-cat: warning: a password in the URL is visible to other users\n");
  }
  absl::StatusOr<TransportChoice> choice = ParseTransportChoice(o.transport);
  if (!choice.ok()) return Fail(kExitUsage, choice.status().message());
  ClientOptions co;
  co.max_dialect = o.max_dialect;
  co.require_signing = o.sign;
  co.require_encryption = o.seal;
  co.window_bytes = o.window;
  co.depth = static_cast<uint32_t>(o.depth);
  co.max_io = static_cast<uint32_t>(std::min<uint64_t>(o.io_size, 8 << 20));
  // --io-size given: that size on the RDMA channel too; otherwise the library's larger default.
  if (o.io_size_set) co.max_rdma_io = co.max_io;
  co.request_timeout = absl::Seconds(o.timeout_s);
  co.reconnect.max_outage = absl::Seconds(o.reconnect_s);
  co.multichannel.max_channels = static_cast<uint32_t>(o.channels);
  if (!o.cipher.empty()) {
    const std::optional<Cipher> pick = CipherFromName(o.cipher);
    if (!pick.has_value()) return Fail(kExitUsage, absl::StrCat("unknown cipher ", o.cipher));
    std::vector<Cipher> pref = {*pick};
    for (Cipher x : co.ciphers) if (x != *pick) pref.push_back(x);
    co.ciphers = pref;
  }
  const std::string where = url->Redacted();
  ConnectSpec spec;
  spec.host = url->host;
  spec.port = url->port;
  spec.transport = *choice;
  spec.rdma_device = o.rdma_device;
  spec.client = co;
  spec.smbdirect.registration = o.registration;
  std::string note;
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectClient(spec, &note);
  if (!note.empty() && !o.quiet) std::fprintf(stderr, "smbd-cat: %s\n", note.c_str());
  if (!client.ok()) {
    return Fail(client.status().code() == absl::StatusCode::kFailedPrecondition ? kExitAccess
                                                                               : kExitConnect,
                absl::StrCat("connecting to ", url->host, ": ", client.status().message()));
  }
  if (o.verbose) {
    std::fprintf(stderr, "smbd-cat: connected to %s over %s%s\n", url->host.c_str(),
                 (*client)->connection()->transport()->name(),
                 spec.transport == TransportChoice::kAuto && note.empty()
                     ? " (SMB Direct worked)"
                     : "");
  }
  const PublishClient publish(client->get());
  Credentials cred;
  cred.anonymous = o.anonymous;
  cred.guest = o.guest;
  cred.user = !o.user.empty() ? o.user : url->user;
  cred.domain = !o.domain.empty() ? o.domain : url->domain;
  cred.kerberos = o.kerberos;
  cred.kerberos_principal = o.kerberos_principal;
  // A Kerberos ticket that would be used (KerberosUse::kAuto): no password prompt, and a URL
  // without a user logs in as the ticket's user rather than anonymously.
  const bool kerberos_ticket = o.kerberos == KerberosUse::kRequire ||
                               (o.kerberos == KerberosUse::kAuto && !o.anonymous && !o.guest &&
                                KerberosTicketFor(cred.user));
  std::string password = o.has_password ? o.password : url->password;
  if (!o.has_password && !url->has_password) {
    if (const char* env = std::getenv("SMBD_PASSWORD")) {
      password = env;
    } else if (!o.anonymous && !o.guest && !cred.user.empty() && !kerberos_ticket &&
               isatty(STDIN_FILENO)) {
      password = PromptPassword(cred.user);
    }
  }
  if (cred.user.empty() && !o.guest && !kerberos_ticket) cred.anonymous = true;
  if (o.guest && cred.user.empty()) cred.user = "guest";
  cred.password = SecretBytes::FromString(password);
  Wipe(&password);
  Wipe(&url->password);
  absl::StatusOr<std::unique_ptr<Session>> session = (*client)->Login(cred);
  if (!session.ok()) {
    return Fail(ExitFor(session.status()) == kExitIo ? kExitAuth : ExitFor(session.status()),
                absl::StrCat("logging in to ", url->host, ": ", session.status().message()));
  }
  if (o.verbose) {
    std::fprintf(stderr, "smbd-cat: %s\n", (*session)->auth_note().c_str());
    std::fprintf(stderr, "smbd-cat: %s\n", (*session)->RdmaChannelNote().c_str());
  }
  absl::StatusOr<std::unique_ptr<Tree>> tree = (*session)->TreeConnect(url->share);
  if (!tree.ok()) {
    return Fail(ExitFor(tree.status()),
                absl::StrCat(where, ": ", tree.status().message()));
  }
  if (o.verbose && o.channels > 1) {
    std::fprintf(stderr, "smbd-cat: %s\n", (*client)->multichannel_note().c_str());
  }
  if (o.list) {
    absl::StatusOr<std::vector<FileInfo>> entries = (*tree)->List(url->SmbPath());
    if (!entries.ok()) {
      return Fail(ExitFor(entries.status()), absl::StrCat(where, ": ", entries.status().message()));
    }
    std::sort(entries->begin(), entries->end(),
              [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });
    std::string text;
    for (const FileInfo& e : *entries) {
      if (o.long_list) {
        // Names come from the server: escaped, so that none can drive the terminal.
        absl::StrAppendFormat(&text, "%s %14d  %s  %s\n", e.is_directory() ? "d" : "-", e.size,
                              FileTimeString(e.last_write_time), EscapeForTerminal(e.name));
      } else {
        absl::StrAppend(&text, EscapeForTerminal(e.name), e.is_directory() ? "/" : "", "\n");
      }
    }
    absl::Status w = WriteAll(out_fd, absl::MakeConstSpan(
                                          reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    return w.ok() ? kExitOk : ExitFor(w);
  }
  if (url->path.empty()) return Fail(kExitUsage, absl::StrCat(where, ": no file path"));
  if (o.stat) {
    absl::StatusOr<FileInfo> st = (*tree)->Stat(url->SmbPath());
    if (!st.ok()) return Fail(ExitFor(st.status()), absl::StrCat(where, ": ", st.status().message()));
    std::string text = absl::StrFormat(
        "%s\n  size: %d\n  type: %s\n  attributes: 0x%08x\n  modified: %s\n  created: %s\n",
        where, st->size, st->is_directory() ? "directory" : "file", st->attributes,
        FileTimeString(st->last_write_time), FileTimeString(st->creation_time));
    absl::Status w = WriteAll(out_fd, absl::MakeConstSpan(
                                          reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    return w.ok() ? kExitOk : ExitFor(w);
  }
  OpenOptions oo;
  if ((*client)->reconnects()) MakeDurable(&oo, absl::Seconds(o.reconnect_s));
  absl::StatusOr<std::unique_ptr<File>> file = (*tree)->Open(url->SmbPath(), oo);
  if (!file.ok()) return Fail(ExitFor(file.status()), absl::StrCat(where, ": ", file.status().message()));
  const uint64_t size = (*file)->size_at_open();
  const uint64_t start = o.offset + resume_at;
  uint64_t length = o.length == UINT64_MAX ? UINT64_MAX : (o.length > resume_at ? o.length - resume_at : 0);
  const uint64_t expect =
      start >= size ? 0 : std::min<uint64_t>(length, size - start);
  const bool show = !o.quiet && (o.progress || isatty(STDERR_FILENO));
  Progress progress(show, expect);
  // Up to the size the file had at open, not "until a read comes back short": no requests past
  // the end (with --depth N, up to N of them), and no READ answered with STATUS_END_OF_FILE,
  // which ksmbd (Linux 6.1) signs wrongly, so that a signed read of a whole file from it
  // would fail its last signature check (README, "Known server bugs").
  absl::StatusOr<uint64_t> got = (*file)->ReadTo(
      start, expect, [&](absl::Span<const uint8_t> bytes) -> absl::Status {
        if (g_interrupted) return absl::CancelledError("interrupted");
        if (sha != nullptr) EVP_DigestUpdate(sha, bytes.data(), bytes.size());
        absl::Status s = WriteAll(out_fd, bytes);
        progress.Add(bytes.size());
        return s;
      });
  progress.Finish();
  if (!got.ok()) {
    if (got.status().code() == absl::StatusCode::kCancelled && !g_interrupted) {
      return kExitOk;  // output closed (e.g. `| head`): quietly done
    }
    if (g_interrupted) {
      return Fail(InterruptedExit(),
                  absl::StrCat("interrupted after ", progress.done(), " bytes; ", g_cancelled.load(),
                               " requests in flight cancelled; closing ", where));
    }
    return Fail(ExitFor(got.status()), absl::StrCat(where, ": ", got.status().message()));
  }
  if (o.stats) {
    const ClientStats cs = (*client)->stats();
    std::fprintf(stderr,
                 "smbd-cat: %s over %s: %llu bytes read, %llu of them placed by RDMA in %llu "
                 "RDMA reads, %llu inline (%llu received straight into the buffer, %llu copied "
                 "out of receive buffers); %llu frames sent\n",
                 where.c_str(), (*client)->connection()->transport()->name(),
                 static_cast<unsigned long long>(cs.bytes_read),
                 static_cast<unsigned long long>(cs.rdma_bytes_read),
                 static_cast<unsigned long long>(cs.rdma_reads),
                 static_cast<unsigned long long>(cs.bytes_read - cs.rdma_bytes_read),
                 static_cast<unsigned long long>(cs.bytes_placed),
                 static_cast<unsigned long long>(cs.bytes_copied),
                 static_cast<unsigned long long>(cs.round_trips));
    if (cs.reconnects > 0 || cs.reconnect_attempts_failed > 0) {
      std::fprintf(stderr,
                   "smbd-cat: reconnected %llu time(s) (%llu attempts failed, %llu requests "
                   "replayed, %llu handles reopened, %llu lost; longest %.1f ms)\n",
                   static_cast<unsigned long long>(cs.reconnects),
                   static_cast<unsigned long long>(cs.reconnect_attempts_failed),
                   static_cast<unsigned long long>(cs.requests_replayed),
                   static_cast<unsigned long long>(cs.handles_reopened),
                   static_cast<unsigned long long>(cs.handles_lost), cs.reconnect_us_max / 1000.0);
    }
    if (o.channels > 1) {
      for (const ChannelInfo& ch : (*client)->channels()) {
        std::fprintf(stderr, "smbd-cat: channel %s over %s%s%s: %llu bytes read\n",
                     ch.address.empty() ? "(first)" : ch.address.c_str(),
                     ch.rdma ? "SMB Direct" : "TCP", ch.first ? ", the live one" : "",
                     ch.up ? "" : ", dropped", static_cast<unsigned long long>(ch.bytes_read));
      }
    }
    if (auto* rdma = dynamic_cast<SmbDirectTransport*>((*client)->connection()->transport())) {
      const SmbDirectStats ds = rdma->stats();
      std::fprintf(stderr,
                   "smbd-cat: registration: %llu memory windows bound (%llu invalidated by the "
                   "server, %llu here, %llu stray invalidations), %llu per-I/O registrations\n",
                   static_cast<unsigned long long>(ds.window_binds),
                   static_cast<unsigned long long>(ds.peer_invalidations),
                   static_cast<unsigned long long>(ds.local_invalidations),
                   static_cast<unsigned long long>(ds.unexpected_invalidations),
                   static_cast<unsigned long long>(ds.registrations - ds.window_binds));
    }
  }
  return kExitOk;
}

int Main(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  MaskArgvSecrets(argc, argv);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) -> bool {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (a == "-U" || a == "--user") {
      if (!value(&v)) return Fail(kExitUsage, "-U needs USER[%PASSWORD]");
      const size_t pct = v.find('%');
      o.user = v.substr(0, pct);
      if (pct != std::string::npos) {
        o.password = v.substr(pct + 1);
        o.has_password = true;
        std::fprintf(stderr, "smbd-cat: warning: a password on the command line is visible to "
                             "other users; prefer SMBD_PASSWORD\n");
      }
      const size_t slash = o.user.find_first_of("\\/");
      if (slash != std::string::npos) {
        o.domain = o.user.substr(0, slash);
        o.user = o.user.substr(slash + 1);
      }
    } else if (a == "--credentials") {
      if (!value(&v)) return Fail(kExitUsage, "--credentials needs FILE");
      absl::Status s = ReadCredentials(v, &o);
      if (!s.ok()) return Fail(kExitUsage, s.message());
    } else if (a == "--anonymous") {
      o.anonymous = true;
    } else if (a == "--guest") {
      o.guest = true;
    } else if (a == "--kerberos") {
      o.kerberos = KerberosUse::kRequire;
    } else if (a == "--no-kerberos") {
      o.kerberos = KerberosUse::kNever;
    } else if (a == "--kerberos-principal") {
      if (!value(&o.kerberos_principal) || o.kerberos_principal.empty()) {
        return Fail(kExitUsage, "--kerberos-principal needs a principal (cifs/HOST[@REALM])");
      }
    } else if (a == "--transport") {
      if (!value(&o.transport)) return Fail(kExitUsage, "--transport needs tcp|rdma|auto");
    } else if (a == "--rdma-device") {
      if (!value(&o.rdma_device)) return Fail(kExitUsage, "--rdma-device needs a name");
    } else if (a == "--dialect") {
      if (!value(&v)) return Fail(kExitUsage, "--dialect needs a value");
      if (v == "2.0.2") o.max_dialect = kDialect202;
      else if (v == "2.1") o.max_dialect = kDialect210;
      else if (v == "3.0") o.max_dialect = kDialect300;
      else if (v == "3.0.2") o.max_dialect = kDialect302;
      else if (v == "3.1.1") o.max_dialect = kDialect311;
      else return Fail(kExitUsage, absl::StrCat("unknown dialect ", v));
    } else if (a == "--sign") {
      o.sign = true;
    } else if (a == "--seal") {
      o.seal = true;
    } else if (a == "--cipher") {
      if (!value(&o.cipher)) return Fail(kExitUsage, "--cipher needs a name");
    } else if (a == "--depth") {
      if (!value(&v) || !absl::SimpleAtoi(v, &o.depth) || o.depth == 0 || o.depth > 4096) {
        return Fail(kExitUsage, "--depth needs a number from 1 to 4096");
      }
    } else if (a == "--offset" || a == "--length" || a == "--window" || a == "--io-size") {
      uint64_t n;
      if (!value(&v) || !ParseSize(v, &n)) return Fail(kExitUsage, absl::StrCat(a, " needs a size"));
      if (a == "--offset") o.offset = n;
      if (a == "--length") o.length = n;
      if (a == "--window") o.window = std::max<uint64_t>(n, 65536);
      if (a == "--io-size") {
        o.io_size = std::max<uint64_t>(n, 4096);
        o.io_size_set = true;
      }
    } else if (a == "-o" || a == "--output") {
      if (!value(&o.output)) return Fail(kExitUsage, "-o needs FILE");
    } else if (a == "--continue") {
      o.resume = true;
    } else if (a == "--stat") {
      o.stat = true;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "-l") {
      o.list = o.long_list = true;
    } else if (a == "--verify-sha256") {
      if (!value(&o.sha256) || o.sha256.size() != 64) {
        return Fail(kExitUsage, "--verify-sha256 needs 64 hex digits");
      }
      o.sha256 = absl::AsciiStrToLower(o.sha256);
    } else if (a == "--timeout") {
      if (!value(&v) || !absl::SimpleAtoi(v, &o.timeout_s) || o.timeout_s <= 0) {
        return Fail(kExitUsage, "--timeout needs seconds");
      }
    } else if (a == "--reconnect") {
      if (!value(&v) || !absl::SimpleAtoi(v, &o.reconnect_s) || o.reconnect_s < 0) {
        return Fail(kExitUsage, "--reconnect needs seconds");
      }
    } else if (a == "--channels") {
      if (!value(&v) || !absl::SimpleAtoi(v, &o.channels) || o.channels < 1 || o.channels > 16) {
        return Fail(kExitUsage, "--channels needs a number from 1 to 16");
      }
    } else if (a == "--progress") {
      o.progress = true;
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "-v" || a == "--verbose") {
      o.verbose = true;
    } else if (a == "--rdma-registration") {
      if (!value(&v)) return Fail(kExitUsage, "--rdma-registration needs auto, per-io or windows");
      if (v == "auto") {
        o.registration = RdmaRegistrationMode::kAuto;
      } else if (v == "per-io") {
        o.registration = RdmaRegistrationMode::kPerIo;
      } else if (v == "windows") {
        o.registration = RdmaRegistrationMode::kWindows;
      } else {
        return Fail(kExitUsage, absl::StrCat("unknown --rdma-registration ", v,
                                             " (auto, per-io or windows)"));
      }
    } else if (a == "-q" || a == "--quiet") {
      o.quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      return Fail(kExitUsage, absl::StrCat("unknown option ", a, " (see --help)"));
    } else {
      o.urls.push_back(a);
    }
  }
  for (std::string& a : args) Wipe(&a);  // o holds what it needs; these copy passwords too
  if (o.urls.empty()) return Fail(kExitUsage, "no URL given (see --help)");
  if (o.resume && o.output.empty()) return Fail(kExitUsage, "--continue needs -o FILE");

  signal(SIGPIPE, SIG_IGN);  // EPIPE from write() instead; `| head` ends quietly
  // Before any other thread exists, so that every thread inherits the mask and only the signal
  // thread takes SIGINT/SIGTERM.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(SignalThread, set).detach();

  int out_fd = STDOUT_FILENO;
  uint64_t resume_at = 0;
  if (!o.output.empty()) {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (o.resume ? O_APPEND : O_TRUNC);
    out_fd = open(o.output.c_str(), flags, 0644);
    if (out_fd < 0) return Fail(kExitIo, absl::StrCat(o.output, ": ", strerror(errno)));
    if (o.resume) {
      struct stat st;
      if (fstat(out_fd, &st) == 0) resume_at = static_cast<uint64_t>(st.st_size);
    }
  }
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(nullptr, EVP_MD_CTX_free);
  if (!o.sha256.empty()) {
    sha.reset(EVP_MD_CTX_new());
    EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  }
  int rc = kExitOk;
  for (const std::string& url : o.urls) {
    rc = CatOne(o, url, out_fd, sha.get(), resume_at);
    resume_at = 0;
    if (rc != kExitOk) break;
  }
  Wipe(&o.password);
  for (std::string& u : o.urls) Wipe(&u);
  if (out_fd != STDOUT_FILENO && close(out_fd) != 0 && rc == kExitOk) {
    rc = Fail(kExitIo, absl::StrCat(o.output, ": ", strerror(errno)));
  }
  if (rc == kExitOk && sha != nullptr) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(sha.get(), md, &len);
    std::string hex;
    for (unsigned i = 0; i < len; ++i) absl::StrAppendFormat(&hex, "%02x", md[i]);
    if (hex != o.sha256) {
      return Fail(kExitIo, absl::StrCat("SHA-256 mismatch: got ", hex, ", expected ", o.sha256));
    }
    if (!o.quiet) std::fprintf(stderr, "smbd-cat: SHA-256 verified\n");
  }
  return rc;
}

}  // namespace
}  // namespace smbd

int main(int argc, char** argv) { return smbd::Main(argc, argv); }
