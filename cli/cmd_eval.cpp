// Placeholder: replaced by the real `ladder eval` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_eval_command(CLI::App& root) {
  root.add_subcommand("eval", "(not yet implemented)")->callback([] { throw Error("ladder eval is not implemented yet"); });
}

}  // namespace ladder::cli
