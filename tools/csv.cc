#include "tools/csv.h"

// A '"' inside an unquoted field is kept as text, as Python's csv module does.

namespace dips {

bool SplitCsvLine(std::string_view line, std::vector<std::string>* fields) {
  fields->clear();
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t pos = 0;
  while (true) {
    std::string field;
    if (pos < line.size() && line[pos] == '"') {
      ++pos;
      while (true) {
        if (pos >= line.size()) return false;  // unterminated quote
        char c = line[pos++];
        if (c != '"') {
          field.push_back(c);
        } else if (pos < line.size() && line[pos] == '"') {
          field.push_back('"');
          ++pos;
        } else {
          break;
        }
      }
      if (pos < line.size() && line[pos] != ',') return false;
    } else {
      size_t end = line.find(',', pos);
      if (end == std::string_view::npos) end = line.size();
      field.assign(line.substr(pos, end - pos));
      pos = end;
    }
    fields->push_back(std::move(field));
    if (pos >= line.size()) return true;
    ++pos;  // ','
    if (pos == line.size()) {  // trailing comma: one more empty field
      fields->emplace_back();
      return true;
    }
  }
}

}  // namespace dips
