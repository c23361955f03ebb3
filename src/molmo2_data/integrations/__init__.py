"""Adapters to other training code: ``nanovlm`` (nanoVLM's item format and collator) and ``torch``
(plain ``torch.utils.data`` use of the OWA stage-4 dataset). The official Molmo2 trainer needs no
adapter: ``get_dataloader(..., batch_format="molmo2")``."""
