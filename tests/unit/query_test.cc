#include "storage/query.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "test_util.h"

namespace mqdb {
namespace {

using test::J;

Query Parse(const std::string& text, QueryKind kind = QueryKind::kList) {
  auto q = ParseQuery(J(text).get(), kind);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status().message();
  return q.ok() ? std::move(q.value()) : Query{};
}

std::string Error(const std::string& text, QueryKind kind = QueryKind::kList) {
  auto q = ParseQuery(J(text).get(), kind);
  EXPECT_FALSE(q.ok()) << text;
  EXPECT_EQ(q.status().code(), 400);
  return q.status().message();
}

bool Match(const std::string& filter, const std::string& record) {
  Query q = Parse(R"({"filters":[)" + filter + "]}");
  return Matches(q.filters, J(record).get());
}

TEST(Query, Defaults) {
  Query q = Parse("{}");
  EXPECT_EQ(q.limit, 100);
  EXPECT_EQ(q.offset, 0);
  EXPECT_TRUE(q.filters.empty());
  EXPECT_FALSE(q.projection);
}

TEST(Query, EveryOp) {
  const std::string rec = R"({"age":30,"name":"alice","tags":["a"],"ok":true,"addr":{"city":"Oslo"}})";
  EXPECT_TRUE(Match(R"({"field":"age","op":"eq","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"eq","value":30.0})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"eq","value":31})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"neq","value":31})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"neq","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"lt","value":31})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"lt","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"lte","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"gt","value":29.5})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"gt","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"gte","value":30})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"in","value":[1,30]})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"in","value":[1,2]})", rec));
  EXPECT_TRUE(Match(R"({"field":"name","op":"like","value":"al*"})", rec));
  EXPECT_TRUE(Match(R"({"field":"name","op":"like","value":"*ic*"})", rec));
  EXPECT_FALSE(Match(R"({"field":"name","op":"like","value":"Al*"})", rec));  // case-sensitive
  EXPECT_FALSE(Match(R"({"field":"name","op":"like","value":"lic"})", rec));  // anchored
  EXPECT_TRUE(Match(R"({"field":"missing","op":"is_null"})", rec));
  EXPECT_FALSE(Match(R"({"field":"age","op":"is_null"})", rec));
  EXPECT_TRUE(Match(R"({"field":"age","op":"is_not_null"})", rec));
  EXPECT_TRUE(Match(R"({"field":"ok","op":"eq","value":true})", rec));
  EXPECT_TRUE(Match(R"({"field":"tags","op":"eq","value":["a"]})", rec));
  EXPECT_TRUE(Match(R"({"field":"addr.city","op":"eq","value":"Oslo"})", rec));
  EXPECT_FALSE(Match(R"({"field":"addr.city.x","op":"eq","value":"Oslo"})", rec));
  EXPECT_TRUE(Match(R"({"field":"addr.zip","op":"is_null"})", rec));
}

TEST(Query, NullAndMissingMatchOnlyIsNull) {
  for (const char* rec : {R"({"x":null})", R"({})"}) {
    EXPECT_TRUE(Match(R"({"field":"x","op":"is_null"})", rec));
    EXPECT_FALSE(Match(R"({"field":"x","op":"is_not_null"})", rec));
    EXPECT_FALSE(Match(R"({"field":"x","op":"neq","value":1})", rec));
    EXPECT_FALSE(Match(R"({"field":"x","op":"lt","value":1})", rec));
    EXPECT_FALSE(Match(R"({"field":"x","op":"like","value":"*"})", rec));
  }
}

TEST(Query, ComparisonsAcrossTypesNeverMatch) {
  EXPECT_FALSE(Match(R"({"field":"x","op":"eq","value":"1"})", R"({"x":1})"));
  EXPECT_FALSE(Match(R"({"field":"x","op":"neq","value":"1"})", R"({"x":1})"));
  EXPECT_FALSE(Match(R"({"field":"x","op":"lt","value":"9"})", R"({"x":1})"));
  EXPECT_FALSE(Match(R"({"field":"x","op":"gt","value":0})", R"({"x":"1"})"));
  EXPECT_FALSE(Match(R"({"field":"x","op":"like","value":"1"})", R"({"x":1})"));
  EXPECT_TRUE(Match(R"({"field":"x","op":"lt","value":"b"})", R"({"x":"a"})"));  // bytewise
  EXPECT_TRUE(Match(R"({"field":"x","op":"lt","value":"a"})", R"({"x":"B"})"));
}

TEST(Query, FiltersAreAnded) {
  EXPECT_TRUE(Match(R"({"field":"a","op":"eq","value":1},{"field":"b","op":"eq","value":2})", R"({"a":1,"b":2})"));
  EXPECT_FALSE(Match(R"({"field":"a","op":"eq","value":1},{"field":"b","op":"eq","value":3})", R"({"a":1,"b":2})"));
}

TEST(Query, MalformedQueriesNameTheProblem) {
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"foo","value":1}]})"), "unknown filter op: foo");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"eq"}]})"), "missing filter value for eq: a");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"in","value":1}]})"), "filter value for in must be an array: a");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"like","value":1}]})"), "filter value for like must be a string: a");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"eq","value":null}]})"),
            "filter value for eq must not be null (use is_null/is_not_null): a");
  EXPECT_EQ(Error(R"({"filters":[{"op":"eq","value":1}]})"), "filter 0: missing field");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a","op":"eq","value":1,"x":1}]})"), "unknown filter key: x");
  EXPECT_EQ(Error(R"({"filters":{}})"), "filters must be an array");
  EXPECT_EQ(Error(R"({"filters":[{"field":"a..b","op":"is_null"}]})"), "invalid field path: a..b");
  std::string many = R"({"filters":[)";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + R"({"field":"a","op":"is_null"})";
  EXPECT_EQ(Error(many + "]}"), "too many filters (max 16)");
  EXPECT_EQ(Error(R"({"sort":[{"field":"a","direction":"up"}]})"), "bad sort direction (use asc or desc)");
  EXPECT_EQ(Error(R"({"sort":[{"field":"a"},{"field":"b"},{"field":"c"},{"field":"d"},{"field":"e"}]})"),
            "too many sort keys (max 4)");
  EXPECT_EQ(Error(R"({"limit":10001})"), "limit must be an integer between 0 and 10000");
  EXPECT_EQ(Error(R"({"limit":-1})"), "limit must be an integer between 0 and 10000");
  EXPECT_EQ(Error(R"({"offset":1.5})").rfind("offset must be an integer", 0), 0u);
  EXPECT_EQ(Error(R"({"filter":[]})"), "unknown query field: filter");
  EXPECT_EQ(Error(R"({"sort":[]})", QueryKind::kCount), "count does not accept sort");
  EXPECT_EQ(Error(R"({"projection":[1]})"), "projection must be an array of field names");
}

std::vector<std::string> SortedIds(const std::string& sort, std::vector<std::string> records) {
  Query q = Parse(R"({"sort":)" + sort + "}");
  std::vector<Json> recs;
  for (auto& r : records) recs.push_back(J(r));
  std::sort(recs.begin(), recs.end(), [&](const Json& a, const Json& b) { return SortsBefore(q.sort, a.get(), b.get()); });
  std::vector<std::string> ids;
  for (auto& r : recs) ids.push_back(GetString(r.get(), "id").value());
  return ids;
}

TEST(Query, SortNullsFirstAscendingLastDescendingTiesById) {
  std::vector<std::string> recs = {R"({"id":"d","age":2})", R"({"id":"a","age":1.5})", R"({"id":"c"})",
                                   R"({"id":"b","age":2})", R"({"id":"e","age":null})", R"({"id":"f","age":-3})"};
  EXPECT_EQ(SortedIds(R"([{"field":"age"}])", recs), (std::vector<std::string>{"c", "e", "f", "a", "b", "d"}));
  EXPECT_EQ(SortedIds(R"([{"field":"age","direction":"desc"}])", recs),
            (std::vector<std::string>{"b", "d", "a", "f", "c", "e"}));
}

TEST(Query, MultiKeySortAndDottedPaths) {
  std::vector<std::string> recs = {R"({"id":"1","g":"x","a":{"n":2}})", R"({"id":"2","g":"y","a":{"n":1}})",
                                   R"({"id":"3","g":"x","a":{"n":1}})"};
  EXPECT_EQ(SortedIds(R"([{"field":"g"},{"field":"a.n","direction":"desc"}])", recs),
            (std::vector<std::string>{"1", "3", "2"}));
}

TEST(Query, Glob) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
  EXPECT_TRUE(GlobMatch("a.c", "a.c"));
  EXPECT_FALSE(GlobMatch("a.c", "abc"));  // only * is special
  EXPECT_TRUE(GlobMatch("**x", "x"));
}

// The reference: plain recursive backtracking over '*' (exponential, fine on tiny inputs).
bool SlowGlob(std::string_view p, std::string_view t) {
  if (p.empty()) return t.empty();
  if (p[0] == '*') return SlowGlob(p.substr(1), t) || (!t.empty() && SlowGlob(p, t.substr(1)));
  return !t.empty() && p[0] == t[0] && SlowGlob(p.substr(1), t.substr(1));
}

// Every pattern of up to 6 bytes over {a, b, *} against every text of up to 7 bytes over {a, b}:
// the linear matcher agrees with backtracking everywhere (prefix, suffix, overlap and repeated-piece
// cases included).
TEST(Query, GlobAgreesWithBacktrackingOnEverySmallCase) {
  auto all = [](const std::string& alphabet, size_t max_len) {
    std::vector<std::string> out{""};
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].size() == max_len) continue;
      for (char c : alphabet) out.push_back(out[i] + c);
    }
    return out;
  };
  const auto patterns = all("ab*", 6), texts = all("ab", 7);
  size_t checked = 0;
  for (const auto& p : patterns) {
    for (const auto& t : texts) {
      ASSERT_EQ(GlobMatch(p, t), SlowGlob(p, t)) << "pattern " << p << " text " << t;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100000u);
}

// The shape that made backtracking quadratic answers correctly (its time is in mqdb-bench hostile).
TEST(Query, GlobOnThePathologicalShape) {
  const std::string text(200000, 'a');
  const std::string pattern = "*" + std::string(255, 'a') + "b";
  EXPECT_FALSE(GlobMatch(pattern, text));
  EXPECT_TRUE(GlobMatch(pattern, text + "b"));
  EXPECT_TRUE(GlobMatch("*" + std::string(100, 'a') + "*b*", text + "xbx"));
}

TEST(Query, InAndLikeAreBounded) {
  std::string values;
  for (size_t i = 0; i < kMaxInValues; ++i) values += (i ? "," : "") + std::to_string(i);
  Parse(R"({"filters":[{"field":"v","op":"in","value":[)" + values + "]}]}");
  EXPECT_EQ(Error(R"({"filters":[{"field":"v","op":"in","value":[)" + values + ",1001]}]}"),
            "too many values for in (max 1000): v");
  Parse(R"({"filters":[{"field":"v","op":"like","value":")" + std::string(kMaxLikePattern, '*') + R"("}]})");
  EXPECT_EQ(Error(R"({"filters":[{"field":"v","op":"like","value":")" + std::string(kMaxLikePattern + 1, 'a') + R"("}]})"),
            "like pattern longer than 256 bytes: v");
}

// `in` looks its values up by type (sorted at parse time): the same answers as comparing each.
TEST(Query, InMatchesByTypeAndValue) {
  const std::string in = R"({"field":"v","op":"in","value":[3,"3",true,[1,2],{"k":1},null,-0.5,"b"]})";
  EXPECT_TRUE(Match(in, R"({"v":3})"));
  EXPECT_TRUE(Match(in, R"({"v":3.0})"));
  EXPECT_TRUE(Match(in, R"({"v":"3"})"));
  EXPECT_TRUE(Match(in, R"({"v":"b"})"));
  EXPECT_TRUE(Match(in, R"({"v":true})"));
  EXPECT_TRUE(Match(in, R"({"v":-0.5})"));
  EXPECT_TRUE(Match(in, R"({"v":[1,2]})"));
  EXPECT_TRUE(Match(in, R"({"v":{"k":1}})"));
  EXPECT_FALSE(Match(in, R"({"v":false})"));
  EXPECT_FALSE(Match(in, R"({"v":4})"));
  EXPECT_FALSE(Match(in, R"({"v":"a"})"));
  EXPECT_FALSE(Match(in, R"({"v":[2,1]})"));
  EXPECT_FALSE(Match(in, R"({"v":null})")) << "null matches is_null only";
  EXPECT_FALSE(Match(in, R"({})"));
  EXPECT_TRUE(Match(R"({"field":"v","op":"in","value":[9007199254740993]})", R"({"v":9007199254740992})"))
      << "both are the same double";
}

}  // namespace
}  // namespace mqdb
