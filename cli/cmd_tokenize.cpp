// Placeholder: replaced by the real `ladder tokenize` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_tokenize_command(CLI::App& root) {
  root.add_subcommand("tokenize", "(not yet implemented)")->callback([] { throw Error("ladder tokenize is not implemented yet"); });
}

}  // namespace ladder::cli
