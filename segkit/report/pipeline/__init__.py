"""The notebook pipeline of ``segkit report``: what runs the notebooks and turns them into a report.

- :mod:`~segkit.report.pipeline.plan`: the report's plan (profile, dataset, folders, the
  parameters every notebook gets) and :func:`~segkit.report.pipeline.plan.run_report`, which runs
  it and says what happened (``segkit report`` is a thin command over these two);
- :mod:`~segkit.report.pipeline.runner`: profiles, notebook parameters, papermill execution;
- :mod:`~segkit.report.pipeline.kernels`: one Jupyter kernel warmed up ahead of the running notebook;
- :mod:`~segkit.report.pipeline.notebook`: ``setup_notebook``, the first cell of every notebook;
- :mod:`~segkit.report.pipeline.export`: HTML per notebook, the index and the PDF.

It reads run directories through the notebooks and never trains itself.
"""
