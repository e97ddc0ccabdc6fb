#include "smb2/client/pipeline.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace client_internal {

absl::StatusOr<uint64_t> RunPipeline(const ClientContext& context, uint64_t length,
                                     uint32_t chunk, size_t depth, const PipelineCalls& calls,
                                     absl::string_view what) {
  std::deque<PipelineStep> inflight;
  uint64_t next = 0, delivered = 0;
  bool ended = false;
  absl::Status error;
  const uint64_t epoch = context.cancel_epoch();
  while ((next < length && !ended && error.ok()) || !inflight.empty()) {
    while (next < length && !ended && error.ok() && inflight.size() < depth) {
      if (context.cancel_epoch() != epoch) {
        error = absl::CancelledError(absl::StrCat(what, " cancelled"));
        break;
      }
      PipelineStep step;
      step.at = next;
      step.length = static_cast<uint32_t>(std::min<uint64_t>(chunk, length - next));
      absl::Status s = calls.submit(&step);
      if (!s.ok()) {
        error = s;
        break;
      }
      next += step.length;
      inflight.push_back(std::move(step));
    }
    if (inflight.empty()) break;
    PipelineStep step = std::move(inflight.front());
    inflight.pop_front();
    absl::StatusOr<uint32_t> done = calls.finish(step);
    if (!done.ok()) {
      if (error.ok()) error = done.status();
      continue;  // drain the rest so that no buffer is touched after we return
    }
    if (error.ok() && !ended && *done > 0) {
      absl::Status s = calls.deliver(step, *done);
      if (!s.ok()) error = s;
      delivered += *done;
    }
    if (*done < step.length) ended = true;
  }
  if (!error.ok()) return error;
  return delivered;
}

}  // namespace client_internal
}  // namespace smbd
