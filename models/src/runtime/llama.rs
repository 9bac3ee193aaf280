//! llama.cpp, through `llama-cpp-2`, for GGUF chat models.
