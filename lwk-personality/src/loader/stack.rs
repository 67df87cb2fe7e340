//! Initial process stack (argv, envp, auxv); see the module body.
