"""Stage 3: the decision. Scoring (pure, in ``streams.scoring``), the batch screening core
(``streams.screening``) and its Kafka/Faust shell (``streams.pipeline``, ``streams.app``)."""
