// Partitioning (ARCHITECTURE.md §5). The single node already computes partitions so that keys,
// sequences and events need no format change when clustering arrives: partition = crc32("{entity}/{id}") % 256.
#pragma once

#include <cstdint>
#include <string_view>

namespace mqdb::cluster {

constexpr uint32_t kPartitions = 256;

uint32_t Crc32(std::string_view bytes);
uint32_t PartitionOf(std::string_view entity, std::string_view id);

}  // namespace mqdb::cluster
