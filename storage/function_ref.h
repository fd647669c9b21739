// FunctionRef: a non-owning reference to a callable, for callbacks that run only during the call that
// receives them (visitors of Store::Scan, Store::MultiGet, Records::Matching).
//
// Why not std::function: a lambda that captures more than two references does not fit std::function's
// inline buffer, so every call that passed one allocated (and freed) a heap block; an indexed list
// passed two such visitors. A FunctionRef is two pointers and never allocates.
//
// Invariant: the callable outlives every call through the reference. A lambda written in the argument
// list lives until the end of the full expression, which includes the call: that is the intended use.
// Never store a FunctionRef beyond the call that received it.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

namespace mqdb {

template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                                    std::is_invocable_r_v<R, F&, Args...>>>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor): passed like a std::function
      : callable_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* callable, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(callable))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(callable_, std::forward<Args>(args)...); }

 private:
  void* callable_;
  R (*call_)(void*, Args...);
};

}  // namespace mqdb
