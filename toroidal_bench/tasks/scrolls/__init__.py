"""SCROLLS and ZeroSCROLLS: their files, prompts, truncation and metrics (families `scrolls`,
`zero_scrolls`; tasks `scrolls.<dataset>` and `zero_scrolls.<dataset>`)."""
