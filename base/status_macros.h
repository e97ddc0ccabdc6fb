// Small status helpers. Debian's Abseil (20220623) has no RETURN_IF_ERROR/ASSIGN_OR_RETURN, so the
// project defines them once here.
#ifndef SMBD_BASE_STATUS_MACROS_H_
#define SMBD_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SMBD_CONCAT_INNER_(a, b) a##b
#define SMBD_CONCAT_(a, b) SMBD_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define SMBD_RETURN_IF_ERROR(expr)                    \
  do {                                                \
    ::absl::Status smbd_status_ = (expr);             \
    if (!smbd_status_.ok()) return smbd_status_;      \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its status.
#define SMBD_ASSIGN_OR_RETURN(lhs, expr) \
  SMBD_ASSIGN_OR_RETURN_IMPL_(SMBD_CONCAT_(smbd_statusor_, __LINE__), lhs, expr)
#define SMBD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()

#endif  // SMBD_BASE_STATUS_MACROS_H_
