/* fio external ioengine over the smbd C API (smbd/smbd.h): SMB2/3 over SMB Direct or TCP.
 *
 *   [job]
 *   ioengine=external:/opt/smbd/lib/fio/libfio_smbd.so
 *   smbd_url=smb://user@server/share      (password: SMBD_PASSWORD, or smbd_credentials)
 *   filename=dir/file.bin                 (inside the share)
 *   smbd_transport=auto|rdma|tcp  smbd_rdma_device=rxe0  smbd_sign=1  smbd_seal=1
 *   smbd_cipher=aes-128-gcm  smbd_credentials=/path/to/smbclient-style-file
 *
 * Each fio thread has its own connection. I/O is asynchronous (smbd_read_async /
 * smbd_write_async): queue() starts it, the library's thread puts the finished io_u on a
 * completion list, getevents() collects it. fio's I/O buffers come from iomem_alloc (page
 * aligned) and are registered with the connection once (smbd_register_buffer: small writes
 * from them are not copied, and where the connection binds memory windows each RDMA I/O gets a
 * window instead of a registration of its own); over SMB Direct the server places read data
 * straight into them by RDMA. fio calls init (the connection) before iomem_alloc.
 *
 * Built against fio 3.33's own headers (Debian's source package) by tools/fio/build. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smbd/smbd.h>

#include "fio.h"
#include "optgroup.h"

struct smbd_fio_options {
  void* pad; /* fio: an option's off1 must not be 0 */
  char* url;
  char* transport;
  char* rdma_device;
  char* cipher;
  char* credentials;
  unsigned int sign;
  unsigned int seal;
};

static struct fio_option options[] = {
    {.name = "smbd_url", .lname = "smbd URL", .type = FIO_OPT_STR_STORE,
     .off1 = offsetof(struct smbd_fio_options, url),
     .help = "smb://[domain;]user@host[:port]/share", .category = FIO_OPT_C_ENGINE,
     .group = FIO_OPT_G_INVALID},
    {.name = "smbd_transport", .lname = "smbd transport", .type = FIO_OPT_STR_STORE,
     .off1 = offsetof(struct smbd_fio_options, transport), .def = "auto",
     .help = "auto (SMB Direct, else TCP), rdma or tcp", .category = FIO_OPT_C_ENGINE,
     .group = FIO_OPT_G_INVALID},
    {.name = "smbd_rdma_device", .lname = "smbd RDMA device", .type = FIO_OPT_STR_STORE,
     .off1 = offsetof(struct smbd_fio_options, rdma_device), .help = "RDMA device (rxe0)",
     .category = FIO_OPT_C_ENGINE, .group = FIO_OPT_G_INVALID},
    {.name = "smbd_cipher", .lname = "smbd cipher", .type = FIO_OPT_STR_STORE,
     .off1 = offsetof(struct smbd_fio_options, cipher),
     .help = "preferred cipher (aes-128-gcm, aes-256-gcm, aes-128-ccm, aes-256-ccm)",
     .category = FIO_OPT_C_ENGINE, .group = FIO_OPT_G_INVALID},
    {.name = "smbd_credentials", .lname = "smbd credentials file", .type = FIO_OPT_STR_STORE,
     .off1 = offsetof(struct smbd_fio_options, credentials),
     .help = "smbclient -A style file (username=, password=, domain=)",
     .category = FIO_OPT_C_ENGINE, .group = FIO_OPT_G_INVALID},
    {.name = "smbd_sign", .lname = "smbd sign", .type = FIO_OPT_BOOL,
     .off1 = offsetof(struct smbd_fio_options, sign), .def = "0",
     .help = "refuse an unsigned session", .category = FIO_OPT_C_ENGINE,
     .group = FIO_OPT_G_INVALID},
    {.name = "smbd_seal", .lname = "smbd seal", .type = FIO_OPT_BOOL,
     .off1 = offsetof(struct smbd_fio_options, seal), .def = "0",
     .help = "refuse an unencrypted session", .category = FIO_OPT_C_ENGINE,
     .group = FIO_OPT_G_INVALID},
    {.name = NULL},
};

/* One per io_u: the request block the library calls back with. */
struct smbd_fio_io {
  smbd_read_request read;
  smbd_write_request write;
  struct io_u* io_u;
  struct smbd_fio_data* data;
  struct smbd_fio_io* next_done;
};

/* One per fio thread. */
struct smbd_fio_data {
  smbd_client* client;
  smbd_buffer* registered;       /* td->orig_buffer, registered once (NULL: not registered) */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct smbd_fio_io* done_head; /* finished, not yet collected by getevents */
  struct smbd_fio_io* done_tail;
  struct io_u** events;          /* what getevents collected, for event() */
  unsigned int nr_events;
};

static int errno_of(smbd_status s) {
  switch (s) {
    case SMBD_OK: return 0;
    case SMBD_EINVAL: return EINVAL;
    case SMBD_EBADHANDLE: return EBADF;
    case SMBD_ENOENT: return ENOENT;
    case SMBD_EEXIST: return EEXIST;
    case SMBD_EACCES: return EACCES;
    case SMBD_EAUTH: return EPERM;
    case SMBD_ETIMEDOUT: return ETIMEDOUT;
    case SMBD_ECANCELED: return ECANCELED;
    case SMBD_EUNAVAILABLE: return ECONNRESET;
    case SMBD_EPROTO: return EPROTO;
    case SMBD_ENOSPC: return ENOSPC;
    default: return EIO;
  }
}

static void finish(struct smbd_fio_io* io, smbd_status status, size_t done) {
  struct smbd_fio_data* d = io->data;
  io->io_u->error = errno_of(status);
  io->io_u->resid = status == SMBD_OK ? io->io_u->xfer_buflen - done : io->io_u->xfer_buflen;
  pthread_mutex_lock(&d->mu);
  io->next_done = NULL;
  if (d->done_tail != NULL) {
    d->done_tail->next_done = io;
  } else {
    d->done_head = io;
  }
  d->done_tail = io;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

static void read_done(smbd_read_request* r, smbd_status status, size_t done) {
  finish((struct smbd_fio_io*)r->arg, status, done);
}

static void write_done(smbd_write_request* w, smbd_status status) {
  struct smbd_fio_io* io = (struct smbd_fio_io*)w->arg;
  finish(io, status, io->io_u->xfer_buflen);
}

static int smbd_fio_setup_client(struct thread_data* td) {
  struct smbd_fio_options* o = td->eo;
  struct smbd_fio_data* d = td->io_ops_data;
  smbd_options opts;
  smbd_error err;
  if (o->url == NULL) {
    log_err("smbd: smbd_url is required (smb://user@host/share)\n");
    return 1;
  }
  smbd_options_init(&opts);
  if (o->transport != NULL && strcmp(o->transport, "rdma") == 0) {
    opts.transport = SMBD_TRANSPORT_RDMA;
  } else if (o->transport != NULL && strcmp(o->transport, "tcp") == 0) {
    opts.transport = SMBD_TRANSPORT_TCP;
  } else if (o->transport != NULL && strcmp(o->transport, "auto") != 0) {
    log_err("smbd: smbd_transport=%s: use auto, rdma or tcp\n", o->transport);
    return 1;
  }
  opts.rdma_device = o->rdma_device;
  opts.cipher = o->cipher;
  opts.credentials_file = o->credentials;
  opts.password = getenv("SMBD_PASSWORD");
  opts.sign = o->sign;
  opts.seal = o->seal;
  if (smbd_connect(o->url, &opts, &d->client, &err) != SMBD_OK) {
    /* The message never holds the password. */
    log_err("smbd: connect: %s (%s)\n", err.message, smbd_status_name(err.status));
    return 1;
  }
  return 0;
}

static int smbd_fio_init(struct thread_data* td) {
  struct smbd_fio_data* d = calloc(1, sizeof(*d));
  if (d == NULL) return 1;
  d->events = calloc(td->o.iodepth, sizeof(struct io_u*));
  if (d->events == NULL) {
    free(d);
    return 1;
  }
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  td->io_ops_data = d;
  return smbd_fio_setup_client(td);
}

static void smbd_fio_cleanup(struct thread_data* td) {
  struct smbd_fio_data* d = td->io_ops_data;
  if (d == NULL) return;
  if (d->client != NULL) smbd_disconnect(d->client, NULL);
  pthread_cond_destroy(&d->cv);
  pthread_mutex_destroy(&d->mu);
  free(d->events);
  free(d);
  td->io_ops_data = NULL;
}

static int smbd_fio_io_u_init(struct thread_data* td, struct io_u* io_u) {
  struct smbd_fio_io* io = calloc(1, sizeof(*io));
  if (io == NULL) return 1;
  io->io_u = io_u;
  io->data = td->io_ops_data;
  io->read.callback = read_done;
  io->read.arg = io;
  io->write.callback = write_done;
  io->write.arg = io;
  io_u->engine_data = io;
  return 0;
}

static void smbd_fio_io_u_free(struct thread_data* td, struct io_u* io_u) {
  free(io_u->engine_data);
  io_u->engine_data = NULL;
}

static int smbd_fio_open(struct thread_data* td, struct fio_file* f) {
  struct smbd_fio_data* d = td->io_ops_data;
  smbd_file* file = NULL;
  smbd_error err;
  int flags = SMBD_O_READ;
  if (td_write(td)) flags |= SMBD_O_WRITE | SMBD_O_CREATE;
  if (smbd_open(d->client, f->file_name, flags, &file, &err) != SMBD_OK) {
    log_err("smbd: open %s: %s\n", f->file_name, err.message);
    td_verror(td, errno_of(err.status), "smbd_open");
    return 1;
  }
  FILE_SET_ENG_DATA(f, file);
  return 0;
}

static int smbd_fio_close(struct thread_data* td, struct fio_file* f) {
  smbd_file* file = FILE_ENG_DATA(f);
  smbd_error err;
  int ret = 0;
  if (file != NULL && smbd_close(file, &err) != SMBD_OK) {
    log_err("smbd: close %s: %s\n", f->file_name, err.message);
    ret = errno_of(err.status);
  }
  FILE_SET_ENG_DATA(f, NULL);
  return ret;
}

static int smbd_fio_get_file_size(struct thread_data* td, struct fio_file* f) {
  struct smbd_fio_data* d = td->io_ops_data;
  smbd_stat_t st;
  smbd_error err;
  if (fio_file_size_known(f)) return 0;
  if (d == NULL || d->client == NULL) return 0; /* before init: fio asks again later */
  if (smbd_stat(d->client, f->file_name, &st, &err) == SMBD_OK) {
    f->real_file_size = st.size;
  } else if (err.status == SMBD_ENOENT && td_write(td)) {
    f->real_file_size = 0; /* created at open */
  } else {
    log_err("smbd: stat %s: %s\n", f->file_name, err.message);
    td_verror(td, errno_of(err.status), "smbd_stat");
    return 1;
  }
  fio_file_set_size_known(f);
  return 0;
}

static enum fio_q_status smbd_fio_queue(struct thread_data* td, struct io_u* io_u) {
  struct smbd_fio_io* io = io_u->engine_data;
  smbd_file* file = FILE_ENG_DATA(io_u->file);
  smbd_error err;
  smbd_status s;
  fio_ro_check(td, io_u);
  switch (io_u->ddir) {
    case DDIR_READ:
      s = smbd_read_async(file, io_u->offset, io_u->xfer_buf, io_u->xfer_buflen, &io->read, &err);
      break;
    case DDIR_WRITE:
      s = smbd_write_async(file, io_u->offset, io_u->xfer_buf, io_u->xfer_buflen, &io->write,
                           &err);
      break;
    case DDIR_SYNC:
      s = smbd_flush(file, &err);
      io_u->error = errno_of(s);
      return FIO_Q_COMPLETED;
    default:
      io_u->error = EINVAL;
      return FIO_Q_COMPLETED;
  }
  if (s != SMBD_OK) {
    log_err("smbd: %s at %llu: %s\n", io_u->ddir == DDIR_READ ? "read" : "write",
            (unsigned long long)io_u->offset, err.message);
    io_u->error = errno_of(s);
    return FIO_Q_COMPLETED;
  }
  return FIO_Q_QUEUED;
}

static int smbd_fio_getevents(struct thread_data* td, unsigned int min, unsigned int max,
                              const struct timespec* t) {
  struct smbd_fio_data* d = td->io_ops_data;
  struct timespec until;
  unsigned int n = 0;
  if (t != NULL) {
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += t->tv_sec;
    until.tv_nsec += t->tv_nsec;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
  }
  pthread_mutex_lock(&d->mu);
  for (;;) {
    while (n < max && d->done_head != NULL) {
      struct smbd_fio_io* io = d->done_head;
      d->done_head = io->next_done;
      if (d->done_head == NULL) d->done_tail = NULL;
      d->events[n++] = io->io_u;
    }
    if (n >= min) break;
    if (t != NULL) {
      if (pthread_cond_timedwait(&d->cv, &d->mu, &until) == ETIMEDOUT) break;
    } else {
      pthread_cond_wait(&d->cv, &d->mu);
    }
  }
  pthread_mutex_unlock(&d->mu);
  d->nr_events = n;
  return (int)n;
}

static struct io_u* smbd_fio_event(struct thread_data* td, int event) {
  struct smbd_fio_data* d = td->io_ops_data;
  return d->events[event];
}

/* Page-aligned buffers: an RDMA registration of one I/O then spans no more pages than it
 * must. */
static int smbd_fio_iomem_alloc(struct thread_data* td, size_t total_mem) {
  struct smbd_fio_data* d = td->io_ops_data;
  void* p = NULL;
  if (posix_memalign(&p, 4096, total_mem) != 0) return 1;
  td->orig_buffer = p;
  if (d != NULL && d->client != NULL && total_mem > 0) {
    smbd_error err;
    if (smbd_register_buffer(d->client, p, total_mem, &d->registered, &err) != SMBD_OK) {
      /* Not fatal: every I/O then registers its own memory, as without it. */
      log_info("smbd: buffers not registered: %s\n", err.message);
      d->registered = NULL;
    }
  }
  return 0;
}

static void smbd_fio_iomem_free(struct thread_data* td) {
  struct smbd_fio_data* d = td->io_ops_data;
  if (d != NULL && d->registered != NULL) {
    smbd_unregister_buffer(d->registered, NULL);
    d->registered = NULL;
  }
  free(td->orig_buffer);
  td->orig_buffer = NULL;
}

struct ioengine_ops ioengine = {
    .name = "smbd",
    .version = FIO_IOOPS_VERSION,
    .flags = FIO_DISKLESSIO | FIO_NODISKUTIL,
    .init = smbd_fio_init,
    .cleanup = smbd_fio_cleanup,
    .queue = smbd_fio_queue,
    .getevents = smbd_fio_getevents,
    .event = smbd_fio_event,
    .open_file = smbd_fio_open,
    .close_file = smbd_fio_close,
    .get_file_size = smbd_fio_get_file_size,
    .io_u_init = smbd_fio_io_u_init,
    .io_u_free = smbd_fio_io_u_free,
    .iomem_alloc = smbd_fio_iomem_alloc,
    .iomem_free = smbd_fio_iomem_free,
    .options = options,
    .option_struct_size = sizeof(struct smbd_fio_options),
};
