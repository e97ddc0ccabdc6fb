// The one loop behind pipelined reads and writes: a range is cut into requests of `chunk` bytes
// with up to `depth` in flight, answered in order. Internal to smb2/client.
#ifndef SMBD_SMB2_CLIENT_PIPELINE_H_
#define SMBD_SMB2_CLIENT_PIPELINE_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "smb2/client/context.h"
#include "smb2/message.h"

namespace smbd {
namespace client_internal {

// One request of a pipeline.
struct PipelineStep {
  SmbMessageRef message;
  uint64_t at = 0;             // offset in the range
  uint32_t length = 0;         // bytes asked for
  absl::Span<uint8_t> buffer;  // a read's destination (empty for writes)
  Channel* channel = nullptr;  // where submit sent it (null: the live connection)
};

struct PipelineCalls {
  // Submits the request for [at, at+length) of the range; fills step->message (and buffer).
  absl::FunctionRef<absl::Status(PipelineStep* step)> submit;
  // Waits for a step and returns the bytes it did. Fewer than asked ends the range (a short
  // read is the end of the file): no more requests are issued.
  absl::FunctionRef<absl::StatusOr<uint32_t>(PipelineStep& step)> finish;
  // Takes the bytes of each finished step, in order, while nothing has failed or ended (a no-op
  // where the bytes are already where they belong).
  absl::FunctionRef<absl::Status(const PipelineStep& step, uint32_t done)> deliver;
};

// Runs [0, length). Stops issuing at the first error, the end of the range, or a
// Client::Cancel() (kCancelled), and always drains what is in flight before it returns, so no
// buffer of the range is touched afterwards. Returns the bytes delivered, or the first error.
//
// When a request fails because its connection dropped (ClientOptions::reconnect), the rest is
// drained, the client re-established (ClientContext::Recover), and the range goes on from the
// first request not yet delivered: those sent before are sent again as replays
// (SMB2_FLAGS_REPLAY_OPERATION), into the same place of the range. Nothing of a failed or
// drained request is delivered, and a request of the dead connection writes no buffer after
// it was drained (Connection::Fail ends its placement first). With multichannel, a request
// lost with one channel goes the same way, on the channels left (ClientContext::Failover),
// with or without reconnection.
absl::StatusOr<uint64_t> RunPipeline(ClientContext& context, uint64_t length,
                                     uint32_t chunk, size_t depth, const PipelineCalls& calls,
                                     absl::string_view what);

}  // namespace client_internal
}  // namespace smbd

#endif  // SMBD_SMB2_CLIENT_PIPELINE_H_
