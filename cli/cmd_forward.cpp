// Placeholder: replaced by the real `ladder forward` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_forward_command(CLI::App& root) {
  root.add_subcommand("forward", "(not yet implemented)")->callback([] { throw Error("ladder forward is not implemented yet"); });
}

}  // namespace ladder::cli
