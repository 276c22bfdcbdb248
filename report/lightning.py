"""A PyTorch Lightning callback that builds a report every N epochs while the Trainer runs, and the running
history across them (report.training.Reporter does the work; Lightning is imported only by importing this
module, from ``lightning`` or else ``pytorch_lightning``).

    from report.lightning import ReportCallback

    trainer = Trainer(max_epochs=10, callbacks=[ReportCallback(every_n_epochs=2, data="~/mnist")])
    ReportCallback(every_n_epochs=2, data=(test_images, test_labels))   # or data in memory, or data=val_loader

The report analyses the LightningModule itself (its ``forward`` must return the logits), or one of its
submodules with ``attribute="net"``. The class is built again in the report process: by default from the
module's class with ``self.hparams`` as its arguments (``save_hyperparameters()``), or as ``model`` and
``model_kwargs`` say. Only the global-zero process of a distributed run reports.
"""

from __future__ import annotations

from collections.abc import Mapping

try:
    import lightning.pytorch as pl
except ImportError:  # the older package name
    import pytorch_lightning as pl

from analysis.errors import InputError
from report.training import Reporter


class ReportCallback(pl.Callback):
    """Every ``every_n_epochs`` epochs, save the model's weights and build its report beside the training (see
    report.training). ``attribute``: report this submodule of the LightningModule instead of the whole;
    ``wait_at_end``: when fitting ends, wait for the last report (at most ``timeout`` seconds); the other keyword
    arguments are report.training.Reporter's (``out``, ``model``, ``model_kwargs``, ``history``, ``log``) and
    report.build's options (``data``, ``sections``, ``formats``...). ``data``: a path, or data in memory as
    report.build takes it (``(images, labels)``, ``{"train": ..., "test": ...}``, a ``Dataset``, a ``DataLoader``),
    written once into the build folder when fitting starts; it is required unless the model reported on is the
    assignment CNN (then the embedded MNIST digits are used, and a line says so)."""

    def __init__(self, every_n_epochs: int = 1, *, attribute: str | None = None, wait_at_end: bool = True,
                 timeout: float | None = None, model_kwargs: Mapping | None = None, **options):
        super().__init__()
        if options.get("data") is None and attribute is None and options.get("model") is None:
            # a LightningModule is never the assignment CNN, the one model whose data are built in (MNIST digits)
            raise InputError("no data for the LightningModule: give data=... : the data the model is evaluated on (a "
                             "path, (images, labels), a Dataset, a DataLoader; \"embedded\": the MNIST digits)")
        self.attribute, self.wait_at_end, self.timeout = attribute, wait_at_end, timeout
        self.model_kwargs = model_kwargs
        self.options = {"every": every_n_epochs, **options}
        self.reporter: Reporter | None = None

    def _target(self, pl_module):
        if self.attribute is None:
            return pl_module
        target = getattr(pl_module, self.attribute, None)
        if target is None:
            raise InputError(f"ReportCallback(attribute={self.attribute!r}): the LightningModule has no such "
                             "submodule")
        return target

    def _kwargs(self, pl_module) -> Mapping | None:
        if self.model_kwargs is not None or self.attribute is not None:
            return self.model_kwargs
        hparams = dict(getattr(pl_module, "hparams", {}) or {})
        return hparams or None

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero and self.reporter is None:
            self.reporter = Reporter(model_kwargs=self._kwargs(pl_module), **self.options)  # data written now
            self.reporter.refuse_without_data(self._target(pl_module))  # before the first epoch, not after it

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self.reporter is None or trainer.sanity_checking:
            return
        was_training = pl_module.training
        self.reporter.epoch_end(self._target(pl_module), trainer.current_epoch, trainer.global_step)
        pl_module.train(was_training)

    def on_fit_end(self, trainer, pl_module) -> None:
        if self.reporter is not None:
            self.reporter.close(wait=self.wait_at_end, timeout=self.timeout)

    def on_exception(self, trainer, pl_module, exception) -> None:
        if self.reporter is not None:
            self.reporter.close(wait=False)

    @property
    def results(self):
        return self.reporter.results if self.reporter else []
