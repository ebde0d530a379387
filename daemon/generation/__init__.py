"""Generation: the pipeline loaded, variations denoised (here or on Ray), previews, write-back."""
