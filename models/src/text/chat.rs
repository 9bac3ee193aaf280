//! Chat and summarisation with a GGUF model on llama.cpp.
