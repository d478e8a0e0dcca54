// Placeholder: replaced by the real `ladder generate` command.
#include "commands.h"
#include "ladder/error.h"

namespace ladder::cli {

void add_generate_command(CLI::App& root) {
  root.add_subcommand("generate", "(not yet implemented)")->callback([] { throw Error("ladder generate is not implemented yet"); });
}

}  // namespace ladder::cli
