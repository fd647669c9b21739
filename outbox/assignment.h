// Partition assignment for `ordered` consumer groups (PROTOCOL.md §6): 16 partitions, each owned by
// one live member; a record's partition is crc32(id) % 16, so all its events reach one member.
//
// Rebalancing is stable: it moves as few partitions as possible. A joining member takes partitions
// one at a time from the currently most loaded member until loads differ by at most one; a leaving
// member's partitions go one at a time to the currently least loaded members. Ties are broken by
// member id, so the result is deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mqdb {

constexpr int kGroupPartitions = 16;

// member id -> partitions it owns (sorted)
using Assignment = std::map<std::string, std::vector<int>>;

int GroupPartitionOf(std::string_view record_id);

// Adds `member` (with no partitions) and rebalances. With no previous members it takes all.
void AssignJoin(Assignment& a, const std::string& member);
// Removes `member` and gives its partitions to the others (none left: the partitions are unowned).
void AssignLeave(Assignment& a, const std::string& member);
// Owner of a partition, or "" when the group has no member.
std::string OwnerOf(const Assignment& a, int partition);

}  // namespace mqdb
