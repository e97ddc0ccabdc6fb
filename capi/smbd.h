/* The C interface of the smbd SMB2/SMB3 client (SMB Direct over RDMA, or Direct TCP): the
 * stable one, for C, Fortran (through C) and any language with a C FFI.
 *
 * Handles: an smbd_client is one connection, logged on, with one share connected (the share of
 * the URL); an smbd_file is a handle opened on it. Both are opaque. A handle stays valid until
 * smbd_close / smbd_disconnect returns; any later use of it (a double close included) fails
 * with SMBD_EBADHANDLE instead of crashing. smbd_disconnect closes the client's files too.
 *
 * Errors: every call returns an smbd_status (SMBD_OK = 0) and, when `err` is not NULL, fills it
 * with a message and, for errors the server reported, its NTSTATUS. No call keeps a pointer to
 * `err` or to any string passed in.
 *
 * Threads: every call is thread-safe; several threads may use one client and one file at once.
 * Closing a handle while another thread uses it is allowed: that call finishes (or fails) first,
 * then the handle is gone.
 *
 * Time: every blocking call ends within the options' timeout_ms per request (60 s by default).
 *
 * Callbacks (smbd_read_async, smbd_write_async, smbd_list): run on a library thread (reads and
 * writes) or the caller's thread (list). A read or write callback must not block: blocking
 * calls made from it fail with SMBD_EINVAL (they would wait for the thread that runs them);
 * smbd_read_async and smbd_write_async may be called from it.
 *
 * Passwords: copied into memory that is wiped when freed; never logged, never in messages.
 */
#ifndef SMBD_SMBD_H_
#define SMBD_SMBD_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMBD_VERSION_MAJOR 0
#define SMBD_VERSION_MINOR 2
#define SMBD_VERSION_PATCH 0
#define SMBD_VERSION_STRING "0.2.0"

/* The library's version at run time ("0.2.0"); compare with SMBD_VERSION_STRING. */
const char* smbd_version(void);

typedef enum smbd_status {
  SMBD_OK = 0,
  SMBD_EINVAL = 1,       /* a bad argument, or a blocking call from a read callback */
  SMBD_EBADHANDLE = 2,   /* NULL, closed or never-opened handle (handle values never repeat) */
  SMBD_ENOENT = 3,       /* no such file, directory or share */
  SMBD_EEXIST = 4,       /* it exists already */
  SMBD_EACCES = 5,       /* access denied */
  SMBD_EAUTH = 6,        /* authentication failed, or a session that cannot be trusted */
  SMBD_ETIMEDOUT = 7,    /* no answer within the timeout */
  SMBD_ECANCELED = 8,    /* smbd_cancel ended it */
  SMBD_EUNAVAILABLE = 9, /* cannot connect, or the connection is lost */
  SMBD_EPROTO = 10,      /* the server broke the protocol */
  SMBD_ENOSPC = 11,      /* out of space or another resource */
  SMBD_EIO = 12,         /* anything else */
  SMBD_ELOCKED = 13      /* a byte-range lock is in the way (STATUS_LOCK_NOT_GRANTED,
                            STATUS_FILE_LOCK_CONFLICT) */
} smbd_status;

typedef struct smbd_error {
  smbd_status status;
  uint32_t ntstatus; /* the server's NTSTATUS when it reported the error, else 0 */
  char message[256]; /* NUL-terminated, truncated if longer */
} smbd_error;

/* A short name for a status ("SMBD_ENOENT"). */
const char* smbd_status_name(smbd_status status);

typedef struct smbd_client smbd_client;
typedef struct smbd_file smbd_file;

typedef enum smbd_transport {
  SMBD_TRANSPORT_AUTO = 0, /* SMB Direct, falling back to TCP */
  SMBD_TRANSPORT_RDMA = 1, /* SMB Direct only */
  SMBD_TRANSPORT_TCP = 2   /* Direct TCP only */
} smbd_transport;

typedef struct smbd_options {
  smbd_transport transport;
  const char* rdma_device; /* NULL: chosen by address */
  /* Credentials. The URL's user and password are used when these are NULL; the password may
   * also come from credentials_file (smbclient -A format). */
  const char* user;
  const char* password;
  const char* domain;
  const char* credentials_file;
  int guest;     /* log on as guest */
  int anonymous; /* log on anonymously */
  int sign;      /* refuse an unsigned session */
  int seal;      /* refuse an unencrypted session */
  const char* cipher; /* "aes-128-gcm", "aes-256-gcm", "aes-128-ccm", "aes-256-ccm"; NULL: any */
  uint32_t timeout_ms; /* per request; 0: 60000 */
  /* Kerberos (MIT krb5 through GSS-API; a ticket from kinit, KRB5CCNAME, or a client keytab in
   * KRB5_CLIENT_KTNAME): SMBD_KERBEROS_AUTO uses it when the server offers it and there is a
   * ticket for the user (any user when none is given; then no user is needed), NTLM otherwise
   * or when the server or KDC refuses Kerberos and a password was given (never after a server
   * answer that does not prove its identity); REQUIRE never uses NTLM; NEVER never uses
   * Kerberos. */
  int kerberos;
  /* The server's principal; NULL: "cifs/HOST" with HOST as given (no DNS canonicalization). */
  const char* kerberos_principal;
  /* Sessions that survive the network (see README): 0 (default), a dropped
   * connection fails every call. Otherwise the longest outage the calls do not see: the client
   * reconnects, logs on again and reopens its files (smbd_open then asks for durable handles
   * with a lease), and reads and writes go on; past it they fail with SMBD_EUNAVAILABLE. */
  uint32_t reconnect_ms;
  /* Multichannel (see README): connections in all, the extra ones bound to the session at the
   * other interfaces the server lists, reads and writes spread over them; a channel that drops
   * is left out. 0 or 1 (default): one connection. */
  uint32_t max_channels;
} smbd_options;

enum { SMBD_KERBEROS_AUTO = 0, SMBD_KERBEROS_REQUIRE = 1, SMBD_KERBEROS_NEVER = 2 };

/* Fills `options` with the defaults (auto transport, 60 s timeout, nothing required). */
void smbd_options_init(smbd_options* options);

/* Connects to smb://[domain;][user[:password]@]host[:port]/share, logs on and connects the
 * share. The path part of the URL, if any, is ignored. */
smbd_status smbd_connect(const char* url, const smbd_options* options, smbd_client** client,
                         smbd_error* err);
/* The same, by host name or address, port (0: 445) and share name; the user comes from
 * `options` (or a credentials file there). */
smbd_status smbd_connect_host(const char* host, uint16_t port, const char* share,
                              const smbd_options* options, smbd_client** client,
                              smbd_error* err);
/* Closes the client's files, logs off, disconnects and frees the client. */
smbd_status smbd_disconnect(smbd_client* client, smbd_error* err);
/* Cancels everything the client has in flight (blocking reads and writes return
 * SMBD_ECANCELED). Returns at once. */
smbd_status smbd_cancel(smbd_client* client, smbd_error* err);
/* "rdma" or "tcp": the transport the client ended up on. NULL for a bad handle. */
const char* smbd_client_transport(smbd_client* client);
/* How the client logged on: "Kerberos", "NTLM", "guest" or "anonymous". NULL for a bad
 * handle. */
const char* smbd_client_auth_mechanism(smbd_client* client);
/* Multichannel (smbd_options.max_channels): the connections up now (1 without extra channels),
 * and the READ bytes the `index`th one carried (index 0: the live connection), in *bytes_read.
 * -1 for a bad handle. */
int smbd_client_channels(smbd_client* client, uint32_t index, uint64_t* bytes_read);

enum {
  SMBD_O_READ = 1,
  SMBD_O_WRITE = 2,
  SMBD_O_CREATE = 4, /* create if missing */
  SMBD_O_EXCL = 8,   /* with CREATE: fail if it exists */
  SMBD_O_TRUNC = 16  /* with WRITE: truncate to 0 */
};

/* Opens `path` ('/'-separated, relative to the share) with SMBD_O_* flags. */
smbd_status smbd_open(smbd_client* client, const char* path, int flags, smbd_file** file,
                      smbd_error* err);
smbd_status smbd_close(smbd_file* file, smbd_error* err);

/* Reads up to `length` bytes at `offset` into `buffer`; `*done` is the bytes read (short only
 * at end of file). Large reads are pipelined; over SMB Direct the server writes them straight
 * into `buffer` by RDMA. */
smbd_status smbd_read(smbd_file* file, uint64_t offset, void* buffer, size_t length,
                      size_t* done, smbd_error* err);
/* Writes all `length` bytes at `offset`. */
smbd_status smbd_write(smbd_file* file, uint64_t offset, const void* buffer, size_t length,
                       smbd_error* err);

/* An asynchronous read's control block (as POSIX aio's aiocb): the caller owns it, sets
 * `callback` and `arg`, and keeps it valid until the callback has run. */
typedef struct smbd_read_request smbd_read_request;
/* Called once per smbd_read_async: `status` SMBD_OK and the bytes read, or an error. */
typedef void (*smbd_read_callback)(smbd_read_request* request, smbd_status status, size_t done);
struct smbd_read_request {
  smbd_read_callback callback;
  void* arg;
};
/* Starts a read of up to `length` bytes (at most smbd_max_read) and returns; the request's
 * callback runs later on a library thread (after `request`'s read has ended: `buffer` is no
 * longer written). `buffer` and `request` must stay valid until then, and the file open. The
 * library makes no heap allocation per read once warm (smb2/client:no_alloc_test); over SMB
 * Direct's RDMA channel the device registration that lets the server write `buffer` is made per
 * read (ibv_reg_mr: a system call; the verbs library allocates for it) unless `buffer` lies in a
 * smbd_register_buffer buffer on a connection that binds memory windows. */
smbd_status smbd_read_async(smbd_file* file, uint64_t offset, void* buffer, size_t length,
                            smbd_read_request* request, smbd_error* err);
/* The largest smbd_read_async length. 0 for a bad handle. */
size_t smbd_max_read(smbd_file* file);

/* The same for writes: `callback` gets SMBD_OK once the server has written every byte. `buffer`
 * must stay valid and unchanged until then. */
typedef struct smbd_write_request smbd_write_request;
typedef void (*smbd_write_callback)(smbd_write_request* request, smbd_status status);
struct smbd_write_request {
  smbd_write_callback callback;
  void* arg;
};
smbd_status smbd_write_async(smbd_file* file, uint64_t offset, const void* buffer, size_t length,
                             smbd_write_request* request, smbd_error* err);
/* The largest smbd_write_async length. 0 for a bad handle. */
size_t smbd_max_write(smbd_file* file);

/* Registers [memory, memory + length) with the client's connection once, for many reads and
 * writes (as io_uring's fixed buffers and libfabric's memory regions work). Over SMB Direct:
 * small (inline) writes from it are sent from it directly instead of being copied into the
 * library's registered pages, and where the connection binds memory windows
 * (smbd_client_rdma_note), each RDMA-channel read or write in it gets a window over exactly
 * its bytes instead of a device registration (ibv_reg_mr) of its own; the server is never given
 * the rest of the buffer. Over TCP nothing is registered and I/O works the same. Over SMB
 * Direct, buffers of one client must not overlap (SMBD_EINVAL). Unregister only when no I/O
 * in the buffer runs; smbd_disconnect unregisters the client's buffers. */
typedef struct smbd_buffer smbd_buffer;
smbd_status smbd_register_buffer(smbd_client* client, void* memory, size_t length,
                                 smbd_buffer** buffer, smbd_error* err);
smbd_status smbd_unregister_buffer(smbd_buffer* buffer, smbd_error* err);
/* Whether reads and writes use the RDMA channel, in one line: "RDMA channel on ..." with how the
 * server is given access (per-I/O registration or memory windows, and why), or "RDMA channel
 * off: " and why (connected over TCP, the session signs or seals, ...). NULL for a bad handle.
 * Valid until the client is disconnected. */
const char* smbd_client_rdma_note(smbd_client* client);

smbd_status smbd_truncate(smbd_file* file, uint64_t size, smbd_error* err);
smbd_status smbd_flush(smbd_file* file, smbd_error* err);

enum {
  SMBD_LOCK_SHARED = 1, /* others may lock the bytes shared and read them; without it exclusive */
  SMBD_LOCK_WAIT = 2    /* wait for a conflicting lock to go (up to wait_ms) */
};
/* Locks [offset, offset + length) of the file for this handle (released by smbd_unlock or the
 * close). A conflict fails with SMBD_ELOCKED at once, or with SMBD_LOCK_WAIT after waiting up
 * to wait_ms (0: 30000) with SMBD_ETIMEDOUT, no lock then held. While the lock is held, other
 * handles' reads and writes of the bytes fail with SMBD_ELOCKED. */
smbd_status smbd_lock(smbd_file* file, uint64_t offset, uint64_t length, int flags,
                      uint32_t wait_ms, smbd_error* err);
/* Releases the lock taken with exactly this offset and length. */
smbd_status smbd_unlock(smbd_file* file, uint64_t offset, uint64_t length, smbd_error* err);

typedef struct smbd_stat_t {
  uint64_t size;
  uint64_t allocation_size;
  uint32_t attributes;   /* FILE_ATTRIBUTE_* ([MS-FSCC] 2.6) */
  int is_directory;
  uint64_t creation_time; /* FILETIME: 100 ns units since 1601-01-01 UTC */
  uint64_t last_access_time;
  uint64_t last_write_time;
  uint64_t change_time;
} smbd_stat_t;

smbd_status smbd_stat(smbd_client* client, const char* path, smbd_stat_t* st, smbd_error* err);
smbd_status smbd_fstat(smbd_file* file, smbd_stat_t* st, smbd_error* err);

/* Called per entry ("." and ".." left out); `name` is valid during the call only. A non-zero
 * return stops the listing, and smbd_list returns SMBD_ECANCELED. */
typedef int (*smbd_list_callback)(void* arg, const char* name, const smbd_stat_t* st);
smbd_status smbd_list(smbd_client* client, const char* dir, smbd_list_callback callback,
                      void* arg, smbd_error* err);

smbd_status smbd_mkdir(smbd_client* client, const char* path, smbd_error* err);
smbd_status smbd_rmdir(smbd_client* client, const char* path, smbd_error* err);
smbd_status smbd_unlink(smbd_client* client, const char* path, smbd_error* err);
smbd_status smbd_rename(smbd_client* client, const char* from, const char* to, int replace,
                        smbd_error* err);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* SMBD_SMBD_H_ */
