#include "smb2/client/pipeline.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/strings/str_cat.h"

namespace smbd {
namespace client_internal {

absl::StatusOr<uint64_t> RunPipeline(ClientContext& context, uint64_t length, uint32_t chunk,
                                     size_t depth, const PipelineCalls& calls,
                                     absl::string_view what) {
  std::deque<PipelineStep> inflight;
  uint64_t next = 0, delivered = 0;
  bool ended = false;
  absl::Status error;
  const uint64_t epoch = context.cancel_epoch();
  // Reconnection: set when a request was lost with its connection; the range resumes at
  // `resume` once everything in flight has drained. Requests below `replay_until` were sent
  // before and go again as replays.
  bool lost = false;
  uint64_t resume = 0, replay_until = 0;
  Connection* lost_on = nullptr;
  int recoveries_without_progress = 0;
  uint64_t last_resume = UINT64_MAX;
  auto lose = [&](uint64_t at, Connection* c) {
    if (!lost) resume = at;
    resume = std::min(resume, at);
    lost = true;
    lost_on = c;
  };
  auto connection_loss = [&](const absl::Status& s, Connection* c) {
    return (context.reconnect_enabled() && (IsRetryAfterReconnect(s) || context.Lost(c))) ||
           context.CanFailover(c);
  };
  while (true) {
    while (next < length && !ended && error.ok() && !lost && inflight.size() < depth) {
      if (context.cancel_epoch() != epoch) {
        error = absl::CancelledError(absl::StrCat(what, " cancelled"));
        break;
      }
      PipelineStep step;
      step.at = next;
      step.length = static_cast<uint32_t>(std::min<uint64_t>(chunk, length - next));
      absl::Status s;
      {
        ReplayScope replay(step.at < replay_until);
        s = calls.submit(&step);
      }
      Connection* c = step.channel != nullptr ? step.channel->connection : context.connection();
      if (!s.ok()) {
        if (connection_loss(s, c)) {
          lose(step.at, c);
        } else {
          error = s;
        }
        break;
      }
      if (step.at < replay_until) context.reconnect_counters().requests_replayed++;
      next += step.length;
      inflight.push_back(std::move(step));
    }
    if (inflight.empty()) {
      if (!lost || !error.ok()) break;
      // A short answer before the loss ended the range there: everything up to it is
      // delivered, nothing after it is wanted.
      if (ended) break;
      // Everything of the dead connection has ended: re-establish, then go on from the first
      // request whose bytes were not delivered.
      absl::Status recovered = context.Recover(lost_on);
      if (!recovered.ok()) {
        error = recovered;
        break;
      }
      if (resume != last_resume) {
        recoveries_without_progress = 0;
        last_resume = resume;
      } else if (++recoveries_without_progress > 8) {
        error = absl::UnavailableError(
            absl::StrCat(what, ": the connection keeps dropping before any progress"));
        break;
      }
      replay_until = std::max(replay_until, next);
      next = resume;
      lost = false;
      continue;
    }
    PipelineStep step = std::move(inflight.front());
    inflight.pop_front();
    absl::StatusOr<uint32_t> done = calls.finish(step);
    if (!done.ok()) {
      Connection* c = step.message ? step.message->connection : nullptr;
      if (error.ok() && connection_loss(done.status(), c)) {
        lose(step.at, c);
      } else if (error.ok()) {
        error = done.status();
      }
      continue;  // drain the rest so that no buffer is touched after we return
    }
    // At or after the loss: done again once the range resumes there.
    if (lost && step.at >= resume) continue;
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
