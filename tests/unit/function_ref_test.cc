#include "storage/function_ref.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>

namespace mqdb {
namespace {

int Twice(FunctionRef<int(int)> f, int x) { return f(f(x)); }

TEST(FunctionRef, CallsTheCallableItRefersTo) {
  int calls = 0;
  std::string seen;
  // A lambda with more captures than std::function keeps inline: referred to, not copied.
  auto add = [&calls, &seen, offset = 3](int x) {
    ++calls;
    seen += std::to_string(x) + ",";
    return x + offset;
  };
  EXPECT_EQ(Twice(add, 1), 7);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(seen, "1,4,");
  EXPECT_EQ(Twice([](int x) { return x * 10; }, 2), 200);  // a temporary lives through the call
}

TEST(FunctionRef, RefersToConstCallablesAndStdFunctions) {
  const auto negate = [](int x) { return -x; };
  EXPECT_EQ(Twice(negate, 5), 5);
  std::function<int(int)> inc = [](int x) { return x + 1; };
  EXPECT_EQ(Twice(inc, 5), 7);
}

TEST(FunctionRef, ForwardsArgumentsAndResults) {
  struct Counter {
    int n = 0;
    bool operator()(std::string_view key, std::string_view value) {
      n += static_cast<int>(key.size() + value.size());
      return n < 10;
    }
  } counter;
  FunctionRef<bool(std::string_view, std::string_view)> visit = counter;
  EXPECT_TRUE(visit("ab", "cd"));
  EXPECT_FALSE(visit("abc", "def"));
  EXPECT_EQ(counter.n, 10);  // the original was called, not a copy
}

}  // namespace
}  // namespace mqdb
