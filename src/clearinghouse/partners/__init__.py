"""Critical-infrastructure partners' assets: SBOMs uploaded, every component matched against the records that
affect it (incrementally, as records arrive), alerts raised and acknowledged, VEX exported (issue 14 items 1-4)."""
