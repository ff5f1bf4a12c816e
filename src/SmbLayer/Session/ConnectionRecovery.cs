namespace SmbLayer.Session;

/// <summary>The stages of a connection's recovery, in the order they run.</summary>
internal enum RecoveryStage
{
    /// <summary>Each session is set up again (PreviousSessionId names the old one).</summary>
    Sessions,

    /// <summary>Each tree is connected again under its recovered session.</summary>
    Trees,

    /// <summary>
    /// Each tree's durable handles are reclaimed; the others are lost, and only their users are told. This stage runs
    /// after the connection is Ready again: each handle's users wait for that handle alone.
    /// </summary>
    Opens,
}

/// <summary>
/// What comes back after a reconnect, and in which order (DESIGN §6): once NEGOTIATE has succeeded on the new link,
/// every session registered for <see cref="RecoveryStage.Sessions"/>, then every tree, each stage in registration
/// order and each step within <see cref="Transport.ConnectionSettings.RecoveryStepTimeout"/> of its own (one budget
/// for the whole recovery could never be met by enough of them). The connection is Ready again after the trees; the
/// handles are then reclaimed in the background, in parallel within the credits, and only the users of a handle not
/// yet back wait for it (<see cref="SmbOpen.ReclaimPending"/>). A step's exception fails the attempt (the connection
/// tries again), except the authentication and security errors that end reconnecting for good (see
/// <see cref="Transport.SmbConnection.AddRecoveryStep"/>).
/// </summary>
internal sealed class ConnectionRecovery
{
    private readonly List<(RecoveryStage Stage, Func<RecoveryRun, CancellationToken, Task> Step)> _steps = [];
    private readonly List<SmbTree> _trees = [];
    private readonly Transport.SmbConnection _connection;
    private Task _reclaims = Task.CompletedTask;
    private CancellationTokenSource? _reclaimsStop;

    public ConnectionRecovery(Transport.SmbConnection connection)
    {
        _connection = connection;
        connection.AddRecoveryStep(RunAsync);
        connection.StateChanged += change =>
        {
            if (change.To == Transport.ConnectionState.Closed)
            {
                // Closed for good: no reclaim will come; the handles' users go on (and fail with the closing error).
                _reclaimsStop?.Cancel();
                foreach (var tree in Trees())
                {
                    tree.AbandonReclaims();
                }
            }
        };
    }

    private SmbTree[] Trees()
    {
        lock (_steps)
        {
            return [.. _trees];
        }
    }

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
        lock (_steps)
        {
            _trees.Add(tree);
        }
        Register(RecoveryStage.Trees, (_, cancellationToken) => tree.RecoverOrLoseOpensAsync(cancellationToken));
        Register(RecoveryStage.Opens, (run, cancellationToken) => tree.RecoverOpensAsync(run.ReclaimBudget, run.StepTimeout, cancellationToken));
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        (RecoveryStage Stage, Func<RecoveryRun, CancellationToken, Task> Step)[] steps;
        lock (_steps)
        {
            steps = [.. _steps];
        }
        // The previous run's reclaims ended with its link (their requests failed at once); the handles they did not get
        // back still wait, and this run reclaims them.
        _reclaimsStop?.Cancel();
        await _reclaims.ConfigureAwait(false);
        var run = new RecoveryRun(_connection.Settings.RecoveryStepTimeout);
        foreach (var stage in new[] { RecoveryStage.Sessions, RecoveryStage.Trees })
        {
            foreach (var (s, step) in steps)
            {
                if (s == stage)
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    bounded.CancelAfter(run.StepTimeout);
                    await step(run, bounded.Token).ConfigureAwait(false);
                }
            }
        }
        // Before the connection is Ready: every handle's users wait for that handle from here.
        foreach (var tree in Trees())
        {
            tree.AwaitReclaims();
        }
        var stop = new CancellationTokenSource();
        _reclaimsStop = stop;
        _reclaims = ReclaimAsync(steps, run, stop);
    }

    private async Task ReclaimAsync((RecoveryStage Stage, Func<RecoveryRun, CancellationToken, Task> Step)[] steps, RecoveryRun run,
        CancellationTokenSource stop)
    {
        await Task.Yield(); // the connection goes Ready first
        try
        {
            foreach (var (s, step) in steps)
            {
                if (s == RecoveryStage.Opens)
                {
                    await step(run, stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is SmbException or OperationCanceledException)
        {
            // The connection was lost again (or closed): the handles not yet back still wait for the next recovery.
        }
    }
}

/// <summary>What the steps of one recovery share.</summary>
internal sealed class RecoveryRun(TimeSpan stepTimeout)
{
    /// <summary>The recovery's patience with a server still letting go of the old connection, shared by every handle reclaimed.</summary>
    public ReclaimRetryBudget ReclaimBudget { get; } = new();

    /// <summary>The limit for each step: a session's setup, a tree's connect, a handle's reclaim.</summary>
    public TimeSpan StepTimeout { get; } = stepTimeout;
}
