namespace SmbLayer.Session;

/// <summary>The stages of a connection's recovery, in the order they run.</summary>
internal enum RecoveryStage
{
    /// <summary>Each session is set up again (PreviousSessionId names the old one).</summary>
    Sessions,

    /// <summary>Each tree is connected again under its recovered session.</summary>
    Trees,

    /// <summary>Each tree's durable handles are reclaimed; the others are lost, and only their users are told.</summary>
    Opens,
}

/// <summary>
/// What comes back after a reconnect, and in which order (DESIGN §6): once NEGOTIATE has succeeded on the new link,
/// every session registered for <see cref="RecoveryStage.Sessions"/>, then every tree, then every tree's open
/// handles, each stage in registration order. The connection is Ready again only after the last step. A step's
/// exception fails the attempt (the connection tries again), except the authentication and security errors that end
/// reconnecting for good (see <see cref="Transport.SmbConnection.AddRecoveryStep"/>).
/// </summary>
internal sealed class ConnectionRecovery
{
    private readonly List<(RecoveryStage Stage, Func<RecoveryRun, CancellationToken, Task> Step)> _steps = [];

    public ConnectionRecovery(Transport.SmbConnection connection) => connection.AddRecoveryStep(RunAsync);

    /// <summary>Adds a step to <paramref name="stage"/>, run on every reconnect from now on.</summary>
    public void Register(RecoveryStage stage, Func<RecoveryRun, CancellationToken, Task> step)
    {
        lock (_steps)
        {
            _steps.Add((stage, step));
        }
    }

    /// <summary>A session's step: set it up again.</summary>
    public void Register(SmbSession session) => Register(RecoveryStage.Sessions, (_, cancellationToken) => session.RecoverAsync(cancellationToken));

    /// <summary>A tree's steps: connect it again (a share refused now loses its handles), then reclaim its handles.</summary>
    public void Register(SmbTree tree)
    {
        Register(RecoveryStage.Trees, (_, cancellationToken) => tree.RecoverOrLoseOpensAsync(cancellationToken));
        Register(RecoveryStage.Opens, (run, cancellationToken) => tree.RecoverOpensAsync(run.ReclaimBudget, cancellationToken));
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        (RecoveryStage Stage, Func<RecoveryRun, CancellationToken, Task> Step)[] steps;
        lock (_steps)
        {
            steps = [.. _steps];
        }
        var run = new RecoveryRun();
        foreach (var stage in Enum.GetValues<RecoveryStage>())
        {
            foreach (var (s, step) in steps)
            {
                if (s == stage)
                {
                    await step(run, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}

/// <summary>What the steps of one recovery share.</summary>
internal sealed class RecoveryRun
{
    /// <summary>The recovery's patience with a server still letting go of the old connection, shared by every handle reclaimed.</summary>
    public ReclaimRetryBudget ReclaimBudget { get; } = new();
}
