"""The methods section of a paper, from the code: architecture figures, formulas, dataset and training text."""
