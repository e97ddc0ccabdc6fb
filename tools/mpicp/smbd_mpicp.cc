// smbd-mpicp: an MPI-parallel copy between an SMB share and a local path, either direction.
//
//   mpirun -np 4 smbd-mpicp smb://user@server/share/data/big.bin /scratch/big.bin
//   mpirun -np 4 smbd-mpicp /scratch/results smb://user@server/share/results   (a tree)
//
// Every rank opens its own connection (over SMB Direct: its own queue pair) and copies the
// blocks of each file that are its own, block-cyclically (block b of the whole copy goes to
// rank b mod N), so all ranks and links share every large file. Rank 0 lists the source, makes
// the directories and the destination files at their final size, and prints progress; the
// ranks agree on the exit status, and the first rank that failed says why.
// Password: SMBD_PASSWORD (or --credentials FILE); never on the command line.
#include <fcntl.h>
#include <mpi.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connect/connect.h"
#include "smb2/client/client.h"
#include "smb2/client/credentials_file.h"
#include "smb2/client/url.h"
#include "smb2/pdu/create.h"

namespace smbd {
namespace {

struct Args {
  std::string src, dst;
  std::string transport = "auto";
  std::string rdma_device;  // empty: chosen by the server's address
  std::string credentials;
  uint64_t block = 8 << 20;
  bool quiet = false;
};

struct Entry {
  std::string path;  // relative to the copy's root ("" for a single file)
  bool directory = false;
  uint64_t size = 0;
};

// One side's connection (SMB) or root (local).
struct Side {
  bool smb = false;
  std::string local;     // local root path
  SmbUrl url;            // SMB: host, share, path (the root inside the share)
  std::unique_ptr<Client> client;
  std::unique_ptr<Session> session;
  std::unique_ptr<Tree> tree;
};

std::string Join(const std::string& a, const std::string& b) {
  if (b.empty()) return a;
  if (a.empty()) return b;
  return a + "/" + b;
}

absl::Status Connect(const Args& args, Side* side) {
  ConnectSpec spec;
  spec.host = side->url.host;
  spec.port = side->url.port;
  absl::StatusOr<TransportChoice> t = ParseTransportChoice(args.transport);
  if (!t.ok()) return t.status();
  spec.transport = *t;
  spec.rdma_device = args.rdma_device;
  absl::StatusOr<std::unique_ptr<Client>> c = ConnectClient(spec, nullptr);
  if (!c.ok()) return c.status();
  side->client = *std::move(c);
  Credentials cred;
  cred.user = side->url.user;
  cred.domain = side->url.domain;
  if (!args.credentials.empty()) {
    absl::StatusOr<CredentialsFile> f = ReadCredentialsFile(args.credentials);
    if (!f.ok()) return f.status();
    if (!f->user.empty()) cred.user = f->user;
    if (!f->domain.empty()) cred.domain = f->domain;
    cred.password = std::move(f->password);
  } else if (const char* pw = std::getenv("SMBD_PASSWORD"); pw != nullptr) {
    cred.password = SecretBytes::FromString(pw);
  }
  absl::StatusOr<std::unique_ptr<Session>> s = side->client->Login(cred);
  if (!s.ok()) return s.status();
  side->session = *std::move(s);
  absl::StatusOr<std::unique_ptr<Tree>> tree = side->session->TreeConnect(side->url.share);
  if (!tree.ok()) return tree.status();
  side->tree = *std::move(tree);
  return absl::OkStatus();
}

absl::Status Errno(const std::string& what) {
  return absl::Status(errno == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrCat(what, ": ", std::strerror(errno)));
}

// Rank 0: what the source holds, directories before what is in them.
absl::Status ListSource(Side& src, const std::string& rel, std::vector<Entry>* out) {
  if (src.smb) {
    absl::StatusOr<FileInfo> st = src.tree->Stat(Join(src.url.path, rel));
    if (!st.ok()) return st.status();
    out->push_back({rel, st->is_directory(), st->size});
    if (!st->is_directory()) return absl::OkStatus();
    std::vector<std::string> children;
    absl::Status s = src.tree->ListEach(Join(src.url.path, rel), [&](const FileInfo& fi) {
      children.push_back(fi.name);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    for (const std::string& c : children) {
      absl::Status cs = ListSource(src, Join(rel, c), out);
      if (!cs.ok()) return cs;
    }
    return absl::OkStatus();
  }
  struct stat st;
  const std::string path = Join(src.local, rel);
  if (::stat(path.c_str(), &st) != 0) return Errno(path);
  out->push_back({rel, S_ISDIR(st.st_mode), static_cast<uint64_t>(st.st_size)});
  if (!S_ISDIR(st.st_mode)) return absl::OkStatus();
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return Errno(path);
  std::vector<std::string> children;
  while (dirent* e = readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      children.push_back(e->d_name);
    }
  }
  closedir(d);
  std::sort(children.begin(), children.end());
  for (const std::string& c : children) {
    absl::Status cs = ListSource(src, Join(rel, c), out);
    if (!cs.ok()) return cs;
  }
  return absl::OkStatus();
}

// Rank 0: the directories, and every file at its final size, before any rank writes.
absl::Status Prepare(Side& dst, const std::vector<Entry>& entries) {
  for (const Entry& e : entries) {
    if (dst.smb) {
      const std::string path = Join(dst.url.path, e.path);
      if (e.directory) {
        absl::Status s = dst.tree->Mkdir(path);
        if (!s.ok() && s.code() != absl::StatusCode::kAlreadyExists) return s;
        continue;
      }
      OpenOptions o;
      o.write = true;
      o.disposition = kFileOverwriteIf;
      absl::StatusOr<std::unique_ptr<File>> f = dst.tree->Open(path, o);
      if (!f.ok()) return f.status();
      absl::Status s = (*f)->Truncate(e.size);
      if (!s.ok()) return s;
      s = (*f)->Close();
      if (!s.ok()) return s;
    } else {
      const std::string path = Join(dst.local, e.path);
      if (e.directory) {
        if (::mkdir(path.c_str(), 0777) != 0 && errno != EEXIST) return Errno(path);
        continue;
      }
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
      if (fd < 0) return Errno(path);
      const int r = ::ftruncate(fd, static_cast<off_t>(e.size));
      ::close(fd);
      if (r != 0) return Errno(path);
    }
  }
  return absl::OkStatus();
}

// An open file on either side.
struct Handle {
  std::unique_ptr<File> smb;
  int fd = -1;
  ~Handle() {
    if (fd >= 0) ::close(fd);
  }
};

absl::Status OpenSide(Side& side, const std::string& rel, bool write, Handle* h) {
  if (side.smb) {
    OpenOptions o;
    o.write = write;
    absl::StatusOr<std::unique_ptr<File>> f = side.tree->Open(Join(side.url.path, rel), o);
    if (!f.ok()) return f.status();
    h->smb = *std::move(f);
    return absl::OkStatus();
  }
  const std::string path = Join(side.local, rel);
  h->fd = ::open(path.c_str(), write ? O_WRONLY : O_RDONLY);
  return h->fd < 0 ? Errno(path) : absl::OkStatus();
}

absl::Status ReadBlock(Handle& h, uint64_t offset, absl::Span<uint8_t> buf) {
  if (h.smb != nullptr) {
    absl::StatusOr<uint64_t> n = h.smb->Read(offset, buf);
    if (!n.ok()) return n.status();
    if (*n != buf.size()) return absl::DataLossError("the source file shrank during the copy");
    return absl::OkStatus();
  }
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::pread(h.fd, buf.data() + done, buf.size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 ? absl::DataLossError("the source file shrank") : Errno("read");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteBlock(Handle& h, uint64_t offset, absl::Span<const uint8_t> buf) {
  if (h.smb != nullptr) return h.smb->Write(offset, buf);
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::pwrite(h.fd, buf.data() + done, buf.size() - done,
                               static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("write");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The job's verdict: every rank passes its status; the first failing rank prints why; all
// return the same exit code.
int Agree(const absl::Status& mine, int rank, const char* stage) {
  const int failed_rank_or_max = mine.ok() ? INT32_MAX : rank;
  int first = INT32_MAX;
  MPI_Allreduce(&failed_rank_or_max, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == INT32_MAX) return 0;
  if (first == rank) {
    std::fprintf(stderr, "smbd-mpicp: rank %d: %s: %s\n", rank, stage,
                 std::string(mine.message()).c_str());
  }
  return 1;
}

// Entries travel from rank 0 as one flat buffer: "D|F size path\n" lines.
std::string Serialize(const std::vector<Entry>& entries) {
  std::string out;
  for (const Entry& e : entries) absl::StrAppend(&out, e.directory ? "D " : "F ", e.size, " ", e.path, "\n");
  return out;
}

std::vector<Entry> Deserialize(const std::string& text) {
  std::vector<Entry> out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t nl = text.find('\n', at);
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    Entry e;
    e.directory = line[0] == 'D';
    const size_t sp = line.find(' ', 2);
    e.size = std::strtoull(line.c_str() + 2, nullptr, 10);
    e.path = line.substr(sp + 1);
    out.push_back(e);
  }
  return out;
}

absl::Status ParseSide(const std::string& arg, Side* side) {
  if (!absl::StartsWith(arg, "smb://")) {
    side->local = arg;
    return absl::OkStatus();
  }
  side->smb = true;
  absl::StatusOr<SmbUrl> u = ParseSmbUrl(arg);
  if (!u.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad URL ", RedactUrlText(arg), ": ", u.status().message()));
  }
  if (u->has_password) {
    return absl::InvalidArgumentError(
        "a password in the URL would be visible to every user; use SMBD_PASSWORD");
  }
  side->url = *std::move(u);
  return absl::OkStatus();
}

int Run(int argc, char** argv, int rank, int ranks) {
  Args args;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--transport" && i + 1 < argc) {
      args.transport = argv[++i];
    } else if (a == "--rdma-device" && i + 1 < argc) {
      args.rdma_device = argv[++i];
    } else if (a == "--credentials" && i + 1 < argc) {
      args.credentials = argv[++i];
    } else if (a == "--block" && i + 1 < argc) {
      args.block = std::max<uint64_t>(65536, std::strtoull(argv[++i], nullptr, 10) << 20);
    } else if (a == "-q") {
      args.quiet = true;
    } else if (a == "-h" || a == "--help") {
      if (rank == 0) {
        std::printf("usage: mpirun -np N smbd-mpicp [--transport auto|rdma|tcp] "
                    "[--rdma-device DEV] [--credentials FILE] [--block MiB] [-q] SRC DST\n"
                    "  one of SRC and DST is smb://[domain;]user@host[:port]/share/path, the "
                    "other a local path;\n  a file or a directory tree; password in "
                    "SMBD_PASSWORD\n");
      }
      return 0;
    } else {
      pos.push_back(a);
    }
  }
  Side src, dst;
  absl::Status s = pos.size() == 2 ? absl::OkStatus()
                                   : absl::InvalidArgumentError("need SRC and DST (see --help)");
  if (s.ok()) s = ParseSide(pos[0], &src);
  if (s.ok()) s = ParseSide(pos[1], &dst);
  if (s.ok() && src.smb == dst.smb) {
    s = absl::InvalidArgumentError("one of SRC and DST must be an smb:// URL, the other local");
  }
  if (int rc = Agree(s, rank, "arguments"); rc != 0) return 2;
  Side& remote = src.smb ? src : dst;
  if (int rc = Agree(Connect(args, &remote), rank, "connect"); rc != 0) return rc;

  // Rank 0 lists the source and lays out the destination; everyone learns the list.
  std::vector<Entry> entries;
  std::string list;
  s = absl::OkStatus();
  if (rank == 0) {
    s = ListSource(src, "", &entries);
    if (s.ok()) s = Prepare(dst, entries);
    list = Serialize(entries);
  }
  if (int rc = Agree(s, rank, "listing the source / preparing the destination"); rc != 0) {
    return rc;
  }
  uint64_t len = list.size();
  MPI_Bcast(&len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  list.resize(len);
  MPI_Bcast(list.data(), static_cast<int>(len), MPI_CHAR, 0, MPI_COMM_WORLD);
  entries = Deserialize(list);

  // Block-cyclic over the whole copy: block b (counted across all files) is rank b mod N's.
  uint64_t total = 0;
  for (const Entry& e : entries) total += e.directory ? 0 : e.size;
  std::vector<uint8_t> buf(args.block);
  uint64_t block = 0, mine = 0;
  const absl::Time start = absl::Now();
  absl::Time last_report = start;
  s = absl::OkStatus();
  for (const Entry& e : entries) {
    if (e.directory || !s.ok()) continue;
    const uint64_t blocks = (e.size + args.block - 1) / args.block;
    // This rank's first block of the file, if any.
    const uint64_t first = (rank + ranks - block % ranks) % ranks;
    if (first < blocks) {
      Handle in, out;
      s = OpenSide(src, e.path, false, &in);
      if (s.ok()) s = OpenSide(dst, e.path, true, &out);
      for (uint64_t b = first; s.ok() && b < blocks; b += ranks) {
        const uint64_t off = b * args.block;
        const size_t n = static_cast<size_t>(std::min<uint64_t>(args.block, e.size - off));
        s = ReadBlock(in, off, absl::MakeSpan(buf.data(), n));
        if (s.ok()) s = WriteBlock(out, off, absl::MakeConstSpan(buf.data(), n));
        mine += n;
        if (rank == 0 && !args.quiet && absl::Now() - last_report > absl::Seconds(1)) {
          last_report = absl::Now();
          // Rank 0's share is about 1/N of the copy: a fair estimate of the whole.
          std::fprintf(stderr, "smbd-mpicp: ~%.0f%% of %.1f MiB\n",
                       100.0 * std::min(1.0, double(mine) * ranks / std::max<uint64_t>(total, 1)),
                       total / 1048576.0);
        }
      }
      if (s.ok() && out.smb != nullptr) s = out.smb->Close();
    }
    block += blocks;
  }
  const int rc = Agree(s, rank, "copying");
  uint64_t all = 0;
  MPI_Reduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rc == 0 && rank == 0 && !args.quiet) {
    const double secs = std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - start));
    std::fprintf(stderr, "smbd-mpicp: %zu entries, %llu bytes in %.2f s (%.1f MiB/s) by %d ranks "
                 "over %s\n",
                 entries.size(), static_cast<unsigned long long>(all), secs,
                 all / 1048576.0 / secs, ranks, remote.client->connection()->transport()->name());
  }
  return rc;
}

}  // namespace
}  // namespace smbd

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const int rc = smbd::Run(argc, argv, rank, ranks);
  MPI_Finalize();
  return rc;
}
