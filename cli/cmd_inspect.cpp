// Placeholder: replaced by the real `ladder inspect` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_inspect_command(CLI::App& root) {
  root.add_subcommand("inspect", "(not yet implemented)")->callback([] { throw Error("ladder inspect is not implemented yet"); });
}

}  // namespace ladder::cli
