/** The pure GGUF size logic lives in the agent (it checks downloads with it); tests keep importing it from here. */
export * from '../../src/agent/gguf/ggml-type-sizes.js';
