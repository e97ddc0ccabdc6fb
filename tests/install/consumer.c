/* A C program that uses the installed library, built with nothing but cc and pkg-config
 * (tests/install/run-suite): reads smb://.../share/PATH with the C API and writes its bytes to
 * stdout. Usage: consumer URL PATH (password in SMBD_PASSWORD). */
#include <smbd/smbd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s URL PATH\n", argv[0]);
    return 2;
  }
  if (strcmp(smbd_version(), SMBD_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s, library %s\n", SMBD_VERSION_STRING, smbd_version());
    return 1;
  }
  /* README begin */
  smbd_options options;
  smbd_options_init(&options);
  options.transport = SMBD_TRANSPORT_TCP;
  options.password = getenv("SMBD_PASSWORD");
  smbd_error err;
  smbd_client* client = NULL;
  if (smbd_connect(argv[1], &options, &client, &err) != SMBD_OK) {
    fprintf(stderr, "connect: %s: %s\n", smbd_status_name(err.status), err.message);
    return 1;
  }
  smbd_file* file = NULL;
  if (smbd_open(client, argv[2], SMBD_O_READ, &file, &err) != SMBD_OK) {
    fprintf(stderr, "open: %s: %s\n", smbd_status_name(err.status), err.message);
    return 1;
  }
  const size_t chunk = 8 << 20;
  char* buffer = malloc(chunk);
  uint64_t offset = 0;
  for (;;) {
    size_t done = 0;
    if (smbd_read(file, offset, buffer, chunk, &done, &err) != SMBD_OK) {
      fprintf(stderr, "read: %s: %s\n", smbd_status_name(err.status), err.message);
      return 1;
    }
    if (done == 0) break;
    fwrite(buffer, 1, done, stdout);
    offset += done;
  }
  free(buffer);
  if (smbd_close(file, &err) != SMBD_OK || smbd_disconnect(client, &err) != SMBD_OK) {
    fprintf(stderr, "close: %s\n", err.message);
    return 1;
  }
  /* README end */
  return 0;
}
