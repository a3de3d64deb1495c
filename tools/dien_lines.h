// Building blocks shared by the MovieLens and Amazon converters: interned ids
// and the DIEN-format line writer (docs/log_format.md §1).
#ifndef DIPS_TOOLS_DIEN_LINES_H_
#define DIPS_TOOLS_DIEN_LINES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dips {

// Maps id strings to dense indices 0, 1, ... in order of first appearance.
// Converters keep millions of behaviours as index pairs instead of strings.
class IdTable {
 public:
  uint32_t Intern(std::string_view id);
  // Index of `id`, or -1 when it was never interned.
  int64_t Find(std::string_view id) const;
  const std::string& name(uint32_t index) const { return names_[index]; }
  size_t size() const { return names_.size(); }

 private:
  std::unordered_map<std::string, uint32_t> index_;
  std::vector<std::string> names_;
};

// One behaviour (or target): indices into the item and category IdTables.
struct Behaviour {
  uint32_t item = 0;
  uint32_t category = 0;
};

// Appends `label \t user \t item \t category \t item_history \t
// category_history \n` with the history joined by 0x02, oldest first.
void AppendDienLine(int label, std::string_view user, const Behaviour& target,
                    const Behaviour* history, size_t history_size, const IdTable& items,
                    const IdTable& categories, std::string* out);

}  // namespace dips

#endif  // DIPS_TOOLS_DIEN_LINES_H_
