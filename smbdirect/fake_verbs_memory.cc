// Memory regions and windows of FakeRdmaNetwork. Registration, allocation and binds are posted
// through FakeRdmaEndpoint (fake_verbs_endpoint.cc); these objects undo them when destroyed.
#include <cstdint>
#include <mutex>

#include "smbdirect/fake_verbs_internal.h"

namespace smbd {
namespace fake_verbs_internal {

FakeRegion::~FakeRegion() {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->regions.erase(lkey());
  net_->rkeys.erase(rkey());
}

FakeWindow::~FakeWindow() {
  std::lock_guard<std::mutex> lock(net_->mu);
  net_->windows.erase(id_);
  for (auto it = net_->rkeys.begin(); it != net_->rkeys.end();) {
    if (it->second.window && it->second.window_id == id_) {
      it = net_->rkeys.erase(it);
    } else {
      ++it;
    }
  }
}

uint32_t FakeWindow::rkey() const {
  std::lock_guard<std::mutex> lock(net_->mu);
  auto it = net_->windows.find(id_);
  return it == net_->windows.end() ? 0 : it->second.rkey;
}

}  // namespace fake_verbs_internal
}  // namespace smbd
