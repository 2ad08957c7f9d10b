// Kept short: this file is also compiled as `kimi-lsp-under-test` by the tests package.
fn main() -> std::process::ExitCode {
    kimi_lsp::memory::start();
    kimi_lsp::cli::main()
}
