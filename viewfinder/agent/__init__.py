"""The question-answering agent: a LangGraph loop (plan -> retrieve -> select clips -> allocate
the visual budget -> answer -> reflect) over one video's indexes, and the ``uniform`` baseline."""
