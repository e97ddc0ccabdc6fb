#include "smb2/tcp_transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "buffers/wire.h"
#include "smb2/constants.h"

namespace smbd {
namespace {

constexpr int kMaxIov = 1024;  // IOV_MAX on Linux

absl::Status Errno(absl::string_view what, int err) {
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  if (err == ETIMEDOUT) code = absl::StatusCode::kDeadlineExceeded;
  return absl::Status(code, absl::StrCat(what, ": ", strerror(err)));
}

bool SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void Tune(int fd, const TcpOptions& o) {
  int one = 1;
  // Requests are small and latency bound: never wait for Nagle.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (o.send_buffer > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.send_buffer, sizeof(int));
  if (o.receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.receive_buffer, sizeof(int));
  }
}

std::string AddressString(const sockaddr* sa) {
  char host[NI_MAXHOST], serv[NI_MAXSERV];
  const socklen_t len =
      sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return sa->sa_family == AF_INET6 ? absl::StrCat("[", host, "]:", serv)
                                   : absl::StrCat(host, ":", serv);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Connect(absl::string_view host,
                                                                     uint16_t port,
                                                                     PagePool* pool,
                                                                     const TcpOptions& options) {
  if (options.fail_operation == 1) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", host, ":", port, ": injected fault"));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  const std::string host_s(host);
  const std::string port_s = absl::StrCat(port);
  const int gai = getaddrinfo(host_s.c_str(), port_s.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::NotFoundError(
        absl::StrCat("resolving ", host, ": ", gai_strerror(gai)));
  }
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", host));
  const absl::Time deadline = absl::Now() + options.connect_timeout;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const std::string where = AddressString(ai->ai_addr);
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Errno(absl::StrCat("socket for ", where), errno);
      continue;
    }
    SetNonBlocking(fd);
    Tune(fd, options);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno != EINPROGRESS) {
      last = Errno(absl::StrCat("connect to ", where), errno);
      close(fd);
      continue;
    }
    if (rc != 0) {
      pollfd p{fd, POLLOUT, 0};
      const int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
      int pr;
      do {
        pr = poll(&p, 1, static_cast<int>(std::min<int64_t>(ms, INT32_MAX)));
      } while (pr < 0 && errno == EINTR);
      if (pr == 0) {
        last = absl::DeadlineExceededError(absl::StrCat(
            "connect to ", where, ": timed out after ",
            absl::FormatDuration(options.connect_timeout)));
        close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        last = Errno(absl::StrCat("connect to ", where), err);
        close(fd);
        continue;
      }
    }
    freeaddrinfo(res);
    std::unique_ptr<TcpTransport> t(new TcpTransport(fd, pool, options, where));
    t->ops_ = 1;  // connect was operation 1
    return t;
  }
  freeaddrinfo(res);
  return last;
}

std::unique_ptr<TcpTransport> TcpTransport::FromSocket(int fd, PagePool* pool,
                                                       const TcpOptions& options) {
  SetNonBlocking(fd);
  return std::unique_ptr<TcpTransport>(new TcpTransport(fd, pool, options, "socket"));
}

std::string TcpTransport::peer_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::string();
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr = nullptr;
  if (ss.ss_family == AF_INET) {
    addr = &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr;
  } else if (ss.ss_family == AF_INET6) {
    addr = &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
  } else {
    return std::string();
  }
  if (inet_ntop(ss.ss_family, addr, text, sizeof(text)) == nullptr) return std::string();
  return text;
}

TcpTransport::TcpTransport(int fd, PagePool* pool, const TcpOptions& options, std::string peer)
    : fd_(fd), pool_(pool), options_(options), peer_(std::move(peer)), recv_frags_(pool) {
  if (options_.zero_copy_min_bytes > 0) {
    // TCP (and not AF_UNIX, whose socketpairs tests use) accepts SO_ZEROCOPY; without it the
    // kernel would ignore MSG_ZEROCOPY and always copy.
    int one = 1;
    zero_copy_ = setsockopt(fd_, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) == 0;
  }
}

TcpTransport::~TcpTransport() {
  Shutdown(absl::CancelledError("transport closed"));
  // The shutdown made the kernel drop what it held of lent frames; their notifications are
  // read before the socket goes, so the pages return to the pool only once the kernel is done.
  for (int i = 0; i < kMaxLent; ++i) {
    if (lent_[i].used) (void)AwaitReleased(lent_[i].ticket, absl::Now() + absl::Seconds(1));
  }
  close(fd_);
}

TransportLimits TcpTransport::limits() const {
  TransportLimits l;
  l.max_receive_frame = options_.max_receive_frame;
  return l;
}

TcpStats TcpTransport::stats() const {
  TcpStats s;
  s.frames_sent = frames_sent_.load();
  s.sendmsg_calls = sendmsg_calls_.load();
  s.frames_received = frames_received_.load();
  s.bytes_placed = bytes_placed_.load();
  s.operations = ops_.load();
  s.zero_copy_enabled = zero_copy_.load();
  s.zero_copy_frames = zc_frames_.load();
  s.zero_copy_calls = zc_calls_.load();
  s.zero_copy_notifications = zc_notifications_.load();
  s.zero_copy_copied = zc_copied_.load();
  s.bytes_copied = bytes_copied_.load();
  s.bytes_zero_copy = bytes_zero_copy_.load();
  s.frame_in_send = in_send_.load() != 0;
  {
    std::lock_guard<std::mutex> lock(zc_mu_);
    s.frames_lent = static_cast<uint64_t>(lent_count_);
  }
  return s;
}

void TcpTransport::Shutdown(absl::Status reason) {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (is_shut_.load()) return;
    shutdown_ = reason.ok() ? absl::CancelledError("transport shut down") : reason;
    is_shut_.store(true);
  }
  bool lent;
  {
    std::lock_guard<std::mutex> lock(zc_mu_);
    lent = lent_count_ > 0;
  }
  if (lent) {
    // Frames lent to the kernel may sit unacknowledged for as long as TCP retries (minutes)
    // with a dead peer. Disconnecting (connect with AF_UNSPEC: tcp_disconnect) purges the send
    // queue and resets the stream, so the kernel lets go of our memory now and sends no more
    // of it, and the notifications arrive for AwaitReleased.
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    (void)connect(fd_, &unspec, sizeof(unspec));
  }
  // Wakes a receiver blocked in poll() and makes the peer see the end of the stream.
  ::shutdown(fd_, SHUT_RDWR);
}

absl::Status TcpTransport::Closed() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return shutdown_;
}

absl::Status TcpTransport::Fault(const char* op) {
  const uint64_t n = ops_.fetch_add(1) + 1;
  if (options_.fail_operation != 0 && n == options_.fail_operation) {
    return absl::UnavailableError(absl::StrCat(op, " on ", peer_, ": injected fault (operation ",
                                               n, ")"));
  }
  return absl::OkStatus();
}

absl::Status TcpTransport::WaitFor(short events, absl::Time deadline, const char* what) {
  while (true) {
    if (is_shut_.load()) return Closed();
    SMBD_RETURN_IF_ERROR(Fault("poll"));
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, " on ", peer_, ": no progress within the timeout"));
    }
    // Poll in slices so that a Shutdown() from another thread is noticed even if the socket
    // shutdown did not wake us.
    const int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left), 999) + 1);
    pollfd p{fd_, events, 0};
    const int rc = poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Errno(absl::StrCat(what, " on ", peer_, ": poll"), errno);
    if (rc > 0) {
      // POLLERR also means zero-copy notifications are queued: read them, or every later poll
      // would return at once.
      if ((p.revents & POLLERR) != 0) DrainErrorQueue();
      return absl::OkStatus();
    }
  }
}

TcpTransport::Lent* TcpTransport::TakeSlotLocked() {
  for (Lent& l : lent_) {
    if (!l.used) return &l;
  }
  return nullptr;
}

void TcpTransport::MaybeReleaseLocked(Lent* lent) {
  if (!lent->used || lent->sending || lent->done < lent->calls) return;
  (lent->copied ? bytes_copied_ : bytes_zero_copy_) += lent->bytes;
  lent->held.Clear();  // the pool pages go back (or to whoever else holds them)
  lent->used = false;
  --lent_count_;
  zc_cv_.notify_all();
}

void TcpTransport::DrainErrorQueue() {
  absl::Status fault;
  {
    std::lock_guard<std::mutex> lock(zc_mu_);
    // Notifications come only for lent frames: with none, there is nothing to read.
    while (lent_count_ > 0) {
      fault = Fault("error queue read");
      if (!fault.ok()) break;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(sock_extended_err)) + 64];
      msghdr msg{};
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      const ssize_t r = recvmsg(fd_, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;  // EAGAIN: nothing more queued
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        const bool recverr = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                             (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
        if (!recverr || c->cmsg_len < CMSG_LEN(sizeof(sock_extended_err))) continue;
        sock_extended_err ee;
        memcpy(&ee, CMSG_DATA(c), sizeof(ee));
        if (ee.ee_errno != 0 || ee.ee_origin != SO_EE_ORIGIN_ZEROCOPY) continue;
        zc_notifications_++;
        // The notification names calls [ee_info, ee_data] by the kernel's 32-bit counter;
        // fewer than 2^32 are ever outstanding, so it unwraps against our own count.
        const uint64_t lo = zc_next_id_ - static_cast<uint32_t>(
                                              static_cast<uint32_t>(zc_next_id_) - ee.ee_info);
        const uint64_t end = lo + static_cast<uint32_t>(ee.ee_data - ee.ee_info) + 1;
        const bool copied = (ee.ee_code & SO_EE_CODE_ZEROCOPY_COPIED) != 0;
        if (copied) {
          // The kernel copied after all. Loopback always does (so do devices without
          // scatter-gather): after kCopiesToStop copies in a row pinning has bought nothing, so
          // stop asking. A path that copies now and then (the test-bed guest's virtio-net
          // reports a copy for a few frames in a hundred, BENCHMARKS.md 2d) keeps zero-copy.
          zc_copied_++;
          if (++zc_copied_in_a_row_ >= kCopiesToStop && !options_.zero_copy_despite_copies) {
            zero_copy_ = false;
          }
        } else {
          zc_copied_in_a_row_ = 0;
        }
        for (Lent& l : lent_) {
          if (!l.used) continue;
          const uint64_t from = std::max(lo, l.first_id);
          const uint64_t to = std::min(end, l.first_id + l.calls);
          if (to <= from) continue;
          l.done += to - from;
          if (copied) l.copied = true;
          MaybeReleaseLocked(&l);
        }
      }
    }
  }
  // Without the notifications the memory could never be given back: end the stream, which
  // makes the kernel drop it (a later read of the queue sees the notifications).
  if (!fault.ok()) Shutdown(fault);
}

absl::Status TcpTransport::AwaitReleased(uint64_t ticket, absl::Time deadline) {
  if (ticket == 0) return absl::OkStatus();
  {
    // The common case, on every completed request: nothing lent and the frame sent. One lock,
    // no read of the error queue, no walk over the slots.
    std::lock_guard<std::mutex> lock(zc_mu_);
    if (lent_count_ == 0 && ticket <= frames_started_.load() && in_send_.load() != ticket) {
      return absl::OkStatus();
    }
  }
  while (true) {
    DrainErrorQueue();
    {
      std::unique_lock<std::mutex> lock(zc_mu_);
      const Lent* found = nullptr;
      for (const Lent& l : lent_) {
        if (l.used && l.ticket == ticket) found = &l;
      }
      // Not started yet (its sender holds the caller's send lock, about to call Send), unless
      // the transport is shut: then Send will not touch it.
      const bool not_started = ticket > frames_started_.load() && !is_shut_.load();
      const bool in_send = in_send_.load() == ticket;
      if (found == nullptr && !not_started && !in_send) return absl::OkStatus();
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "frame ", ticket, " to ", peer_,
            found != nullptr && !in_send
                ? " is still held by the kernel (MSG_ZEROCOPY, no completion notification yet)"
                : " is still being sent"));
      }
      if (not_started || in_send || found->sending) {
        // Its sender has not finished the frame: wait for it, not for the socket.
        const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
        zc_cv_.wait_for(lock, std::chrono::milliseconds(std::clamp<int64_t>(ms, 1, 100)));
        continue;
      }
    }
    // POLLERR (which poll reports unasked) says notifications are queued.
    const absl::Duration left = deadline - absl::Now();
    const int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left), 99) + 1);
    pollfd p{fd_, 0, 0};
    const int rc = poll(&p, 1, ms);
    if (rc > 0 && (p.revents & POLLERR) == 0) {
      // Hung up (after Shutdown) with nothing queued yet: do not spin.
      std::unique_lock<std::mutex> lock(zc_mu_);
      zc_cv_.wait_for(lock, std::chrono::milliseconds(1));
    }
  }
}

absl::Status TcpTransport::Send(const Bvecq& frame, absl::Time deadline) {
  std::lock_guard<std::mutex> lock(send_mu_);
  // Every call takes a number, so that NextSendTicket() read before it names this frame, and
  // is marked as sending until it returns (AwaitReleased waits for that too: sendmsg reads the
  // frame's memory while it runs, zero-copy or not). Both before the shutdown check, so that a
  // concurrent Shutdown cannot make AwaitReleased think a frame about to go out never will.
  const uint64_t ticket = frames_started_.load() + 1;
  frames_started_.store(ticket);
  in_send_.store(ticket);
  struct Sent {
    TcpTransport* t;
    ~Sent() {
      std::lock_guard<std::mutex> zl(t->zc_mu_);
      t->in_send_.store(0);
      t->zc_cv_.notify_all();
    }
  } sent{this};
  if (frame.size() == 0 || frame.size() > 0xFFFFFF) {
    return absl::InvalidArgumentError(
        absl::StrCat("TCP frame of ", frame.size(), " bytes (1..16 MiB - 1 allowed)"));
  }
  if (is_shut_.load()) return Closed();
  Lent* lent = nullptr;
  if (zero_copy_.load() && frame.size() >= options_.zero_copy_min_bytes) {
    DrainErrorQueue();  // frees the slots of frames the kernel is done with
    std::lock_guard<std::mutex> zl(zc_mu_);
    lent = TakeSlotLocked();  // none free: this frame goes out plainly
    if (lent != nullptr) {
      lent->used = true;
      lent->sending = true;
      lent->copied = false;
      lent->ticket = ticket;
      lent->first_id = zc_next_id_;
      lent->calls = lent->done = lent->bytes = 0;
      ++lent_count_;
    }
  }
  const absl::Status s = SendLocked(frame, deadline, lent);
  if (lent != nullptr) {
    std::lock_guard<std::mutex> zl(zc_mu_);
    lent->sending = false;
    if (lent->calls > 0) {
      zc_frames_++;
      // The caller may drop the frame once we return; the kernel may not be done with it.
      absl::StatusOr<Bvecq> held = frame.Slice(0, frame.size());
      if (held.ok()) lent->held = *std::move(held);
    }
    MaybeReleaseLocked(lent);
  }
  return s;
}

absl::Status TcpTransport::SendLocked(const Bvecq& frame, absl::Time deadline, Lent* lent) {
  // [MS-SMB2] 2.1: a 4-byte big-endian length (high byte zero) before each message. A
  // zero-copy send pins every byte the iovecs name, the length word too, and reads them when
  // it transmits: so a lent frame's word lives in its slot (which outlives the kernel's hold),
  // never on this stack.
  uint8_t stack_word[4];
  uint8_t* length_word = lent != nullptr ? lent->length_word : stack_word;
  StoreBE32(length_word, static_cast<uint32_t>(frame.size()));
  iovec iov[kMaxIov];
  BvecqIter it = frame.begin();
  iov[0] = {length_word, 4};
  int count = 1;
  count += it.GatherIovec(iov + 1, kMaxIov - 1, UINT64_MAX).entries;
  // The stall timeout restarts with progress, the caller's deadline does not: a peer that
  // drains a byte at a time cannot hold a send (and every request behind it) for longer than
  // the request's own deadline.
  absl::Time stall = absl::Now() + options_.stall_timeout;
  bool started = false;
  bool zero_copy = lent != nullptr;
  while (count > 0) {
    if (is_shut_.load()) return Closed();
    absl::Status fault = Fault("sendmsg");
    if (!fault.ok()) {
      if (started) Shutdown(fault);
      return fault;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const bool zc = zero_copy && zero_copy_.load();
    if (zc) {
      // Counted before the call: the notification may be read on another thread before
      // sendmsg returns here.
      std::lock_guard<std::mutex> zl(zc_mu_);
      lent->calls++;
      zc_next_id_++;
    }
    const ssize_t n = sendmsg(fd_, &msg, MSG_NOSIGNAL | (zc ? MSG_ZEROCOPY : 0));
    const int err = errno;
    sendmsg_calls_++;
    if (zc) {
      std::lock_guard<std::mutex> zl(zc_mu_);
      if (n < 0) {
        // A failed call takes no notification id.
        lent->calls--;
        zc_next_id_--;
      } else {
        lent->bytes += static_cast<uint64_t>(n);
        zc_calls_++;
      }
    } else if (n > 0) {
      bytes_copied_ += static_cast<uint64_t>(n);
    }
    if (n < 0) {
      if (err == EINTR) continue;
      if (err == ENOBUFS && zc) {
        // Out of socket option memory for notifications (net.core.optmem_max): send the rest
        // of this frame plainly.
        zero_copy = false;
        continue;
      }
      if (err == EAGAIN || err == EWOULDBLOCK) {
        absl::Status w = WaitFor(POLLOUT, std::min(stall, deadline), "send");
        if (w.code() == absl::StatusCode::kDeadlineExceeded && deadline < stall) {
          w = absl::DeadlineExceededError(absl::StrCat(
              "send to ", peer_, ": a ", frame.size() + 4,
              "-byte frame was not sent by its request's deadline (the peer reads too slowly)"));
        }
        if (!w.ok()) {
          // Part of the frame is on the wire: the stream cannot carry another frame. (With
          // nothing of it sent yet, the stream is still whole.)
          if (started) Shutdown(w);
          return w;
        }
        continue;
      }
      const absl::Status s = Errno(absl::StrCat("send to ", peer_), err);
      Shutdown(s);
      return s;
    }
    started = true;
    stall = absl::Now() + options_.stall_timeout;  // progress
    // Drop what was sent; resume a partial send inside an iovec.
    size_t left = static_cast<size_t>(n);
    int first = 0;
    while (first < count && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (first < count) {
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
    if (first > 0) {
      std::move(iov + first, iov + count, iov);
      count -= first;
    }
    // Frames of more than IOV_MAX pieces: refill behind what is left.
    if (it.remaining() > 0 && count < kMaxIov) {
      count += it.GatherIovec(iov + count, kMaxIov - count, UINT64_MAX).entries;
    }
  }
  frames_sent_++;
  return absl::OkStatus();
}

absl::Status TcpTransport::ReadExact(uint8_t* dst, size_t len, absl::Time deadline) {
  while (len > 0) {
    // After Shutdown not another byte: `dst` may be a caller's buffer whose request has just
    // been failed (bytes still queued in the socket would otherwise keep arriving into it).
    if (is_shut_.load()) return Closed();
    SMBD_RETURN_IF_ERROR(Fault("recv"));
    const ssize_t n = recv(fd_, dst, len, 0);
    if (n > 0) {
      dst += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      if (is_shut_.load()) return Closed();
      return absl::UnavailableError(absl::StrCat("connection to ", peer_, " closed by the peer"));
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      SMBD_RETURN_IF_ERROR(WaitFor(POLLIN, deadline, "receive"));
      continue;
    }
    return Errno(absl::StrCat("receive from ", peer_), errno);
  }
  return absl::OkStatus();
}

absl::Status TcpTransport::ReadIntoPages(Bvecq* frame, uint64_t len, absl::Time deadline) {
  // Batches of pages filled with readv(): one system call per batch, not per page.
  constexpr int kBatch = 64;
  while (len > 0) {
    iovec iov[kBatch];
    PageRef pages[kBatch];
    int n = 0;
    uint64_t batch_bytes = 0;
    while (n < kBatch && batch_bytes < len) {
      absl::StatusOr<PageRef> page = pool_->Alloc(options_.stall_timeout);
      if (!page.ok()) return page.status();
      pages[n] = *std::move(page);
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(len - batch_bytes, kPageSize));
      iov[n] = {pages[n].data(), piece};
      batch_bytes += piece;
      ++n;
    }
    int first = 0;
    uint64_t left = batch_bytes;
    while (left > 0) {
      if (is_shut_.load()) return Closed();
      SMBD_RETURN_IF_ERROR(Fault("readv"));
      const ssize_t got = readv(fd_, iov + first, n - first);
      if (got == 0) {
        if (is_shut_.load()) return Closed();
        return absl::UnavailableError(
            absl::StrCat("connection to ", peer_, " closed by the peer mid-frame"));
      }
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          SMBD_RETURN_IF_ERROR(WaitFor(POLLIN, deadline, "receive"));
          continue;
        }
        return Errno(absl::StrCat("receive from ", peer_), errno);
      }
      left -= static_cast<uint64_t>(got);
      size_t consumed = static_cast<size_t>(got);
      while (consumed > 0 && consumed >= iov[first].iov_len) {
        consumed -= iov[first].iov_len;
        ++first;
      }
      if (consumed > 0) {
        iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + consumed;
        iov[first].iov_len -= consumed;
      }
    }
    uint64_t appended = 0;
    for (int i = 0; i < n; ++i) {
      const uint32_t piece =
          static_cast<uint32_t>(std::min<uint64_t>(batch_bytes - appended, kPageSize));
      SMBD_RETURN_IF_ERROR(frame->Append(std::move(pages[i]), 0, piece));
      appended += piece;
    }
    len -= batch_bytes;
  }
  return absl::OkStatus();
}

absl::StatusOr<Bvecq> TcpTransport::Receive(absl::Duration idle_timeout) {
  const absl::Time idle_deadline = idle_timeout == absl::InfiniteDuration()
                                       ? absl::InfiniteFuture()
                                       : absl::Now() + idle_timeout;
  absl::Status s = WaitFor(POLLIN, idle_deadline, "waiting for a frame");
  if (!s.ok()) return s;
  absl::Time deadline = absl::Now() + options_.stall_timeout;
  uint8_t length_word[4];
  s = ReadExact(length_word, 4, deadline);
  if (!s.ok()) return s;
  const uint32_t len = LoadBE32(length_word);
  if (length_word[0] != 0 || len == 0 || len > options_.max_receive_frame) {
    return absl::DataLossError(absl::StrCat("frame from ", peer_, " of ", len,
                                            " bytes (framing byte ", length_word[0],
                                            "): not a valid SMB2 Direct TCP frame"));
  }
  Bvecq frame;
  // The frame's start goes into a fragment of a shared page: an answer without data (WRITE,
  // CLOSE: ~100 bytes) or a READ answer's header (whose data is placed) does not take a page
  // of its own. Whatever the fragment does not use goes back (Trim).
  absl::StatusOr<Fragment> piece = ReceivePiece(std::min<uint32_t>(len, kPageSize / 4));
  if (!piece.ok()) return piece.status();
  uint8_t* p = piece->data;
  const size_t room = piece->len;
  // Read the frame's first bytes first: if the placement hook names a destination for part of
  // it (a READ response's data), that part goes straight there.
  const size_t peek = hook_ != nullptr ? std::min<size_t>(hook_->peek(), room) : 0;
  const uint32_t first = std::min<uint32_t>(len, static_cast<uint32_t>(std::max<size_t>(peek, 1)));
  s = ReadExact(p, first, deadline);
  if (!s.ok()) return s;
  uint64_t done = first;
  if (peek > 0 && len >= peek) {
    const PlacedRange place = hook_->Place(absl::MakeConstSpan(p, peek), len);
    const absl::Span<uint8_t> dst = place.dst;
    if (!dst.empty() && place.offset >= peek && place.offset <= room &&
        place.offset + dst.size() <= len) {
      // Bytes between the peeked ones and the placed range stay in the fragment.
      s = ReadExact(p + peek, place.offset - peek, deadline);
      if (!s.ok()) return s;
      recv_frags_.Trim(*piece, place.offset);
      piece->len = static_cast<uint32_t>(place.offset);
      s = frame.Append(*std::move(piece));
      if (!s.ok()) return s;
      s = ReadExact(dst.data(), dst.size(), deadline);
      if (!s.ok()) return s;
      bytes_placed_ += dst.size();
      // The frame still describes the whole message: the placed range is the caller's memory.
      s = frame.AppendExternal(dst.data(), dst.size());
      if (!s.ok()) return s;
      done = place.offset + dst.size();
      s = ReadIntoPages(&frame, len - done, deadline);
      if (!s.ok()) return s;
      frames_received_++;
      return frame;
    }
  }
  // The rest of the fragment, then whole pages.
  const uint32_t more = static_cast<uint32_t>(std::min<uint64_t>(len - done, room - first));
  s = ReadExact(p + first, more, deadline);
  if (!s.ok()) return s;
  recv_frags_.Trim(*piece, first + more);
  piece->len = first + more;
  s = frame.Append(*std::move(piece));
  if (!s.ok()) return s;
  done += more;
  s = ReadIntoPages(&frame, len - done, deadline);
  if (!s.ok()) return s;
  frames_received_++;
  return frame;
}

absl::StatusOr<Fragment> TcpTransport::ReceivePiece(size_t min_len) {
  absl::StatusOr<Fragment> piece = recv_frags_.AllocRest(std::max<size_t>(min_len, 1));
  if (piece.ok() || piece.status().code() != absl::StatusCode::kResourceExhausted) return piece;
  // The pool is at its bound: wait for a page as the rest of the receive path does.
  absl::StatusOr<PageRef> page = pool_->Alloc(options_.stall_timeout);
  if (!page.ok()) return page.status();
  Fragment whole;
  whole.data = page->data();
  whole.len = kPageSize;
  whole.page = *std::move(page);
  return whole;
}

}  // namespace smbd
