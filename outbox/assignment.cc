#include "outbox/assignment.h"

#include <algorithm>

#include "cluster/partition.h"

namespace mqdb {

int GroupPartitionOf(std::string_view record_id) {
  return static_cast<int>(cluster::Crc32(record_id) % kGroupPartitions);
}

namespace {

// Most (most=true) or least loaded member other than `except`; ties: smallest id.
std::string Extreme(const Assignment& a, bool most, const std::string& except) {
  std::string best;
  size_t best_n = 0;
  for (const auto& [id, parts] : a) {
    if (id == except) continue;
    bool better = best.empty() || (most ? parts.size() > best_n : parts.size() < best_n);
    if (better) { best = id; best_n = parts.size(); }
  }
  return best;
}

}  // namespace

void AssignJoin(Assignment& a, const std::string& member) {
  if (a.count(member)) return;
  bool first = a.empty();
  a[member] = {};
  if (first) {
    for (int p = 0; p < kGroupPartitions; ++p) a[member].push_back(p);
    return;
  }
  while (true) {
    std::string donor = Extreme(a, true, member);
    if (donor.empty() || a[donor].size() <= a[member].size() + 1) break;
    a[member].push_back(a[donor].back());  // the donor's highest partition moves
    a[donor].pop_back();
  }
  std::sort(a[member].begin(), a[member].end());
}

void AssignLeave(Assignment& a, const std::string& member) {
  auto it = a.find(member);
  if (it == a.end()) return;
  std::vector<int> orphans = std::move(it->second);
  a.erase(it);
  if (a.empty()) return;
  for (int p : orphans) {
    std::string taker = Extreme(a, false, "");
    auto& parts = a[taker];
    parts.insert(std::upper_bound(parts.begin(), parts.end(), p), p);
  }
}

std::string OwnerOf(const Assignment& a, int partition) {
  for (const auto& [id, parts] : a) {
    if (std::binary_search(parts.begin(), parts.end(), partition)) return id;
  }
  return "";
}

}  // namespace mqdb
