"""Connections to other training frameworks' own loops, each in a module of its own that imports
its framework (:mod:`paretolab.integrations.hf`: Hugging Face's ``Trainer`` and TRL's trainers,
``pip install 'paretolab[hf]'``)."""
