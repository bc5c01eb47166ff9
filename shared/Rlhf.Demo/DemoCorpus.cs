using Rlhf.Modeling.Tokenization;
using Rlhf.Training;

namespace Rlhf.Demo;

/// <summary>
/// Token-level views of the demo task for the byte tokenizer and ChatML: chat prompts, the bootstrap's noisy
/// chat demonstrations, the clean plain-text fact documents (also the PTX corpus) and a little small talk.
/// </summary>
public sealed class DemoCorpus
{
    static readonly (string User, string Assistant)[] SmallTalk =
    [
        ("Hi!", "Hello! Ask me a sum."),
        ("Hello", "Hi! What should I compute?"),
        ("Who are you?", "A tiny model that does arithmetic."),
        ("Thanks!", "You're welcome!"),
        ("Can you help me with maths?", "Sure, ask me a sum or a difference."),
        ("Good morning", "Good morning! Any sums today?"),
    ];

    public DemoCorpus(ByteTokenizer tokenizer) => Tokenizer = tokenizer;

    public ByteTokenizer Tokenizer { get; }

    public static ChatTemplate Template => ChatTemplate.ChatMl;

    /// <summary>The assistant turn ends here; generation stops on it.</summary>
    public int EndOfTurnId => Template.EndOfTurnId(Tokenizer);

    /// <summary>Every question of the given facts, in every phrasing.</summary>
    public static IReadOnlyList<ArithmeticQuestion> Questions(IEnumerable<(int A, int B, char Op)> facts) =>
        facts.SelectMany(f => Enumerable.Range(0, ArithmeticTask.PhrasingCount).Select(p => new ArithmeticQuestion(f.A, f.B, f.Op, p))).ToList();

    /// <summary>ChatML prompt of a user message, ending with the assistant header.</summary>
    public IReadOnlyList<int> ChatPrompt(string userMessage) =>
        Tokenizer.Encode(Template.Render([new ChatTurn("user", userMessage)], addGenerationPrompt: true));

    public IReadOnlyList<int> ChatPrompt(ArithmeticQuestion question) => ChatPrompt(question.Text);

    /// <summary>An assistant reply as it is trained on: the text then the end-of-turn token.</summary>
    public IReadOnlyList<int> ChatResponse(string reply) => [.. Tokenizer.Encode(reply), EndOfTurnId];

    /// <summary>A generated reply as text, without the end-of-turn token or anything special.</summary>
    public string DecodeResponse(IReadOnlyList<int> tokens) => Tokenizer.Decode(tokens, skipSpecialTokens: true);

    /// <summary>
    /// Clean plain pretraining text, BOS first, one item per fact: a bare fact line "7 + 5 = 12"; or, with probability
    /// <paramref name="qaShare"/>, a question and its correct answer ("Q: What is 7 + 5?\nA: 12."), the knowledge in the
    /// form chat uses; or, with probability <paramref name="verdictShare"/>, an answer judged as quizzes on the web do
    /// ("Q: What is 7 + 5?\nA: 13. Wrong"), which gives the trunk a feature "this answer is wrong" right after the answer
    /// that a reward model initialised from it can read off.
    /// </summary>
    public Demonstration FactDocument(IEnumerable<(int A, int B, char Op)> facts, double qaShare = 0, Random? random = null, double verdictShare = 0)
    {
        var text = ByteTokenizer.BosToken + string.Concat(facts.Select(f =>
        {
            var draw = random?.NextDouble() ?? 1;
            if (draw >= qaShare + verdictShare)
                return FactLine(f.A, f.B, f.Op) + "\n";
            var question = new ArithmeticQuestion(f.A, f.B, f.Op, random!.Next(ArithmeticTask.PhrasingCount));
            if (draw < qaShare)
                return $"Q: {question.Text}\nA: {ArithmeticTask.ConciseAnswer(question.Answer)}\n";
            var shown = random.Next(2) == 0 ? question.Answer : WrongResult(question.Answer, random);
            return $"Q: {question.Text}\nA: {ArithmeticTask.ConciseAnswer(shown)} {(shown == question.Answer ? "Right" : "Wrong")}\n";
        }));
        return new Demonstration([], Tokenizer.Encode(text));
    }

    public static string FactLine(int a, int b, char op) => $"{a} {op} {b} = {(op == '+' ? a + b : a - b)}";

    /// <summary>A wrong result: mostly off by one (the demonstrators' error), sometimes further off.</summary>
    static int WrongResult(int result, Random random) => random.Next(4) switch
    {
        0 or 1 => result + 1,
        2 => result == 0 ? 2 : result - 1,
        _ => result + 2 + random.Next(8),
    };

    /// <summary>The plain-text prefix "Q: question\nA: " whose greedy continuation shows whether the model knows the fact.</summary>
    public IReadOnlyList<int> KnowledgeProbe(ArithmeticQuestion question) => Tokenizer.Encode($"{ByteTokenizer.BosToken}Q: {question.Text}\nA: ");

    /// <summary>
    /// A chat demonstration of a noisy demonstrator: with probability <paramref name="wrongShare"/> the answer is off by
    /// one (always +1: a systematic error, which a model can hold as a second "mode" next to the fact, unlike random
    /// errors, which only teach the marginal answer distribution); with probability <paramref name="ramblingShare"/>
    /// the reply rambles.
    /// </summary>
    public Demonstration ChatDemonstration(ArithmeticQuestion question, double wrongShare, double ramblingShare, Random random)
    {
        var result = question.Answer + (random.NextDouble() < wrongShare ? 1 : 0);
        var reply = random.NextDouble() < ramblingShare
            ? ArithmeticTask.RamblingAnswer(result, random.Next(3))
            : ArithmeticTask.ConciseAnswer(result);
        return new Demonstration(ChatPrompt(question), ChatResponse(reply));
    }

    public Demonstration SmallTalkDemonstration(Random random)
    {
        var (user, assistant) = SmallTalk[random.Next(SmallTalk.Length)];
        return new Demonstration(ChatPrompt(user), ChatResponse(assistant));
    }

    /// <summary>The PTX corpus: clean fact documents, each holding <paramref name="factsPerDocument"/> random facts.</summary>
    public IPtxSource PtxSource(IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, double qaShare, double verdictShare, int batchSize, int seed) =>
        new FactDocumentSource(this, facts, factsPerDocument, qaShare, verdictShare, batchSize, seed);

    sealed class FactDocumentSource(
        DemoCorpus corpus, IReadOnlyList<(int A, int B, char Op)> facts, int factsPerDocument, double qaShare, double verdictShare, int batchSize, int seed)
        : IPtxSource
    {
        readonly Random random = new(seed);

        public IReadOnlyList<Demonstration> NextBatch() =>
            Enumerable.Range(0, batchSize)
                .Select(_ => corpus.FactDocument(Enumerable.Range(0, factsPerDocument).Select(_ => facts[random.Next(facts.Count)]).ToList(), qaShare, random, verdictShare))
                .ToList();
    }
}
