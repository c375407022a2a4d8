"""Plate recogniser network, loaded by easyocr as a custom `recog_network`.

It is the english_g2 architecture (VGG feature extractor, two BiLSTMs, linear CTC
head) so it can start from english_g2's pretrained weights; only the head differs,
sized for the 36 plate characters plus the CTC blank. easyocr imports this file by
name from `user_network_directory` and builds `Model(num_class=..., **network_params)`.
"""

from __future__ import annotations

import torch
from torch import nn
from easyocr.model.modules import BidirectionalLSTM, VGG_FeatureExtractor


class Model(nn.Module):
    """CRNN: image (N,1,H,W) -> per-column class scores (N, T, num_class), T = W/4 - 1."""

    def __init__(self, input_channel: int, output_channel: int, hidden_size: int, num_class: int) -> None:
        super().__init__()
        self.FeatureExtraction = VGG_FeatureExtractor(input_channel, output_channel)
        self.SequenceModeling = nn.Sequential(
            BidirectionalLSTM(output_channel, hidden_size, hidden_size),
            BidirectionalLSTM(hidden_size, hidden_size, hidden_size),
        )
        self.Prediction = nn.Linear(hidden_size, num_class)

    def forward(self, input: torch.Tensor, text: torch.Tensor | None = None) -> torch.Tensor:
        """`text` is unused (CTC); easyocr's calling convention passes it. Each column's
        features are averaged over the height with a plain mean (english_g2 uses an
        AdaptiveAvgPool2d((None, 1)), the same sum) because the mean also exports to ONNX."""
        features = self.FeatureExtraction(input)
        columns = features.permute(0, 3, 1, 2).mean(dim=3)
        return self.Prediction(self.SequenceModeling(columns).contiguous())
