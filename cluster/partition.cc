#include "cluster/partition.h"

#include <array>
#include <string>

namespace mqdb::cluster {

namespace {
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = MakeTable();
}  // namespace

uint32_t Crc32(std::string_view bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = kTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t PartitionOf(std::string_view entity, std::string_view id) {
  std::string key;
  key.reserve(entity.size() + 1 + id.size());
  key.append(entity).push_back('/');
  key.append(id);
  return Crc32(key) % kPartitions;
}

}  // namespace mqdb::cluster
