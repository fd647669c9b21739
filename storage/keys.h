// Key encoding of the single RocksDB keyspace (ARCHITECTURE.md §3). All keys are built here, nowhere else.
//
//   data/{entity}/{id}                       record JSON
//   ttl/{expires_at:020}/{entity}/{id}       expiry index (empty value), ordered by expiry time
//   meta/seq                                 last assigned event sequence (decimal)
//   meta/count/{entity}                      number of stored records of the entity (decimal)
//   outbox/{seq:020}                         outbox entry of one write, keyed by its first event sequence
//   dead/{seq:020}                           dead-lettered outbox entry (same encoding)
//   feed/{seq:020}                           one retained event: "{committed_ms}\n{entity}\n{topic}\n{event}"
//                                            (the change feed, outbox/change_feed.h)
//   idx/{entity}/{field}/{sortable}\0{id}    secondary index (see EncodeSortable)
//   dedup/{hex identity}                     "{expires_ms}\n{response}" of a retried write; dropped by
//                                            compactions once expired (StoreOptions::expiring_prefixes)
//
// Invariant: entity names and ids never contain '/', so a prefix scan of data/{entity}/ sees exactly
// that entity's records, and the id is the rest of the key.
#pragma once

#include <cjson/cJSON.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mqdb::keys {

constexpr std::string_view kMetaSeq = "meta/seq";
constexpr std::string_view kMetaCountPrefix = "meta/count/";
constexpr std::string_view kOutboxPrefix = "outbox/";
constexpr std::string_view kDeadPrefix = "dead/";
constexpr std::string_view kFeedPrefix = "feed/";
constexpr std::string_view kTtlPrefix = "ttl/";
constexpr std::string_view kDedupPrefix = "dedup/";
// The first version indexed dedup/ expiries under this prefix; compactions now drop what is left of it.
constexpr std::string_view kRetiredDedupExpiryPrefix = "dedupx/";

std::string Data(std::string_view entity, std::string_view id);
std::string MetaCount(std::string_view entity);
std::string DataPrefix(std::string_view entity);
std::string Outbox(uint64_t seq);
std::string Dead(uint64_t seq);
std::string Feed(uint64_t seq);
// The sequence of a Feed() key; nullopt for any other key.
std::optional<uint64_t> ParseFeed(std::string_view key);
std::string Ttl(int64_t expires_at_s, std::string_view entity, std::string_view id);
// The entity and id of a Ttl() key; nullopt for any other key.
struct TtlTarget {
  std::string_view entity, id;
};
std::optional<TtlTarget> ParseTtl(std::string_view key);

// Stored response of an idempotent request (identity in hex).
std::string Dedup(std::string_view identity);

// The region of a key: its first component ("outbox/", "dedup/", "ttl/", "meta/"), and for the
// entity-scoped families (data/, idx/, uniq/) the entity too ("data/users/"). Store keeps one scan
// floor per region, so there must be few: at most 3 per entity plus one per family. "" for a key
// without '/'.
std::string_view Region(std::string_view key);
// Whether every key that starts with `prefix` has `prefix` as its region ("data/users/", "outbox/";
// not "data/", whose keys belong to their entities' regions).
bool IsRegion(std::string_view prefix);

// Zero-padded decimal, so byte order equals numeric order.
std::string Padded(uint64_t n);

// Order-preserving byte encoding of a JSON scalar: a type tag first (null < false < true < number <
// string), then a body whose bytewise order is the value order. All numbers share one encoding, so
// 1, 1.0, 1.5 and -3 compare as numbers. Strings escape 0x00 as 00 FF and end with 00 00, so the
// encoding can be followed by more key bytes. Objects and arrays are not indexable (returns "").
std::string EncodeSortable(const cJSON* value);

}  // namespace mqdb::keys
