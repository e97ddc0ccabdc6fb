// A MemoryRegistrar for tests: records every registration, hands out distinct keys, and can be
// told to fail.
#ifndef SMBD_BUFFERS_FAKE_REGISTRAR_H_
#define SMBD_BUFFERS_FAKE_REGISTRAR_H_

#include <cstdint>
#include <map>
#include <mutex>

#include "absl/status/status.h"
#include "buffers/page_pool.h"

namespace smbd {

class FakeRegistrar : public MemoryRegistrar {
 public:
  absl::StatusOr<SlabRegistration> Register(void* addr, size_t length) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (fail_next_) {
      fail_next_ = false;
      return absl::UnavailableError("fake registrar: injected registration failure");
    }
    SlabRegistration reg;
    reg.lkey = next_key_++;
    reg.cookie = reinterpret_cast<uintptr_t>(addr);
    live_[reg.cookie] = length;
    registrations_++;
    return reg;
  }
  void Deregister(const SlabRegistration& reg) override {
    std::lock_guard<std::mutex> lock(mu_);
    live_.erase(reg.cookie);
    deregistrations_++;
  }
  void FailNext() {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_ = true;
  }
  int registrations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return registrations_;
  }
  int deregistrations() const {
    std::lock_guard<std::mutex> lock(mu_);
    return deregistrations_;
  }
  size_t live() const {
    std::lock_guard<std::mutex> lock(mu_);
    return live_.size();
  }

 private:
  mutable std::mutex mu_;
  std::map<uint64_t, size_t> live_;
  uint32_t next_key_ = 0x100;
  int registrations_ = 0;
  int deregistrations_ = 0;
  bool fail_next_ = false;
};

}  // namespace smbd

#endif  // SMBD_BUFFERS_FAKE_REGISTRAR_H_
