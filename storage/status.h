// Status: the one result type that crosses module boundaries (no exceptions do).
//
// Codes are the HTTP-style codes of the wire protocol (PROTOCOL.md §1), so a Status produced deep in
// storage/ can become a response envelope without translation tables. Messages are short, specific and
// stable: they are part of the protocol ("not found: users/42"), never a stack trace.
#pragma once

#include <string>
#include <utility>

namespace mqdb {

class Status {
 public:
  enum Code : int {
    kOk = 0,
    kBadRequest = 400,
    kUnauthenticated = 401,
    kForbidden = 403,
    kNotFound = 404,
    kConflict = 409,
    kGone = 410,
    kPayloadTooLarge = 413,
    kOverloaded = 429,
    kInternal = 500,
    kUnavailable = 503,
  };

  Status() = default;
  Status(int code, std::string m) : code_(code), message_(std::move(m)) {}
  static Status Ok() { return Status(); }
  static Status BadRequest(std::string m) { return Status(kBadRequest, std::move(m)); }
  static Status Forbidden(std::string m) { return Status(kForbidden, std::move(m)); }
  static Status NotFound(std::string m) { return Status(kNotFound, std::move(m)); }
  static Status Conflict(std::string m) { return Status(kConflict, std::move(m)); }
  static Status Gone(std::string m) { return Status(kGone, std::move(m)); }
  static Status TooLarge(std::string m) { return Status(kPayloadTooLarge, std::move(m)); }
  static Status Internal(std::string m) { return Status(kInternal, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(kUnavailable, std::move(m)); }

  bool ok() const { return code_ == kOk; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const { return ok() ? "ok" : std::to_string(code_) + " " + message_; }

 private:
  int code_ = kOk;
  std::string message_;
};

// A value or the Status explaining why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}           // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {}   // NOLINT: must not be ok()
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T* operator->() { return &value_; }
  T& operator*() { return value_; }

 private:
  Status status_;
  T value_{};
};

}  // namespace mqdb
