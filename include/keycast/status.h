// Status and Result<T>: the error model of every service and network boundary.
//
// A Status is ok, or a stable Code plus a human-readable message that names the
// cause ("group 'g3' would close the cycle g3 -> g1 -> g3"). Codes are stable and
// map one-to-one onto the admin API's error codes (see docs/api.md); messages are
// for people and may change. A Status never carries secret material.
//
// Result<T> holds either a T or a non-ok Status. Accessing value() of an error
// Result is a programming error (checked by assert in debug builds).
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace keycast {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,     // malformed or out-of-range input
  kNotFound,            // a referenced object does not exist
  kAlreadyExists,       // a create collided with an existing name
  kFailedPrecondition,  // state forbids it (cycle, still referenced, disabled)
  kUnauthenticated,     // no or bad credentials
  kPermissionDenied,    // authenticated but not allowed
  kResourceExhausted,   // a size or rate bound was hit
  kDeadlineExceeded,    // a timeout expired
  kUnavailable,         // transient; retry may succeed
  kDataLoss,            // stored data failed its integrity check
  kInternal,            // a bug or an unexpected library failure
};

// Stable snake_case name of a code, as used in API error bodies and metrics.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid_argument: name too long" ; "ok" for ok.
  std::string ToString() const;

  bool operator==(const Status&) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // The error; Status::Ok() when ok().
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok()
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace keycast

// Propagate a non-ok Status from an expression returning Status.
#define KC_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::keycast::Status kc_status_ = (expr);   \
    if (!kc_status_.ok()) return kc_status_; \
  } while (0)

#define KC_CONCAT_INNER_(a, b) a##b
#define KC_CONCAT_(a, b) KC_CONCAT_INNER_(a, b)

// auto x = ...; from an expression returning Result<T>, or return its Status.
#define KC_ASSIGN_OR_RETURN(lhs, expr) \
  KC_ASSIGN_OR_RETURN_IMPL_(KC_CONCAT_(kc_result_, __LINE__), lhs, expr)
#define KC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
