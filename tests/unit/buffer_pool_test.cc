#include "plugin/buffer_pool.h"

#include <gtest/gtest.h>

#include <string>

namespace mqdb {
namespace {

TEST(BufferPool, AReleasedReplysBufferServesTheNextOne) {
  auto pool = BufferPool::Create();
  auto reply = pool->Share(std::string(5000, 'x'));
  const char* buffer = reply->data();
  EXPECT_EQ(*reply, std::string(5000, 'x'));
  EXPECT_EQ(pool->waiting(), 0u) << "a reply still out is not handed out again";
  EXPECT_EQ(pool->Take().capacity(), std::string().capacity());
  auto copy = reply;
  reply.reset();
  EXPECT_EQ(pool->waiting(), 0u) << "the buffer comes back only when its last owner drops it";
  copy.reset();
  ASSERT_EQ(pool->waiting(), 1u);
  std::string next = pool->Take();
  EXPECT_TRUE(next.empty());
  EXPECT_GE(next.capacity(), 5000u);
  EXPECT_EQ(next.data(), buffer) << "the same block, not a new allocation";
  EXPECT_EQ(pool->waiting(), 0u);
}

TEST(BufferPool, KeepsAtMostKeepBuffersOfAtMostMaxBytes) {
  auto pool = BufferPool::Create(2, 1000);
  pool->Share(std::string(2000, 'a')).reset();
  EXPECT_EQ(pool->waiting(), 0u) << "larger than max_bytes: freed";
  for (int i = 0; i < 3; ++i) {
    auto a = pool->Share(std::string(100, 'a'));
    auto b = pool->Share(std::string(100, 'b'));
    auto c = pool->Share(std::string(100, 'c'));
  }
  EXPECT_EQ(pool->waiting(), 2u);
}

TEST(BufferPool, RepliesOutlivingThePoolFreeTheirBuffers) {
  auto pool = BufferPool::Create();
  auto reply = pool->Share(std::string(3000, 'r'));
  pool.reset();
  EXPECT_EQ(reply->size(), 3000u);
  reply.reset();  // must not touch the destroyed pool (run under valgrind to see it)
}

}  // namespace
}  // namespace mqdb
