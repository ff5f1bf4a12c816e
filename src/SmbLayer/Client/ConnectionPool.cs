using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SmbLayer.Protocol;
using SmbLayer.Session;
using SmbLayer.Transport;

namespace SmbLayer.Client;

/// <summary>What makes two uses able to share one connection: the server and the security options.</summary>
internal readonly record struct ConnectionKey(string Host, int Port, SmbDialect MinDialect, SmbDialect MaxDialect, bool RequireSigning,
    bool RequireEncryption = false, string Ciphers = "", System.Net.IPAddress? Address = null);

/// <summary>
/// The client's connections, shared and refcounted (DESIGN §2). Each pooled connection also
/// caches its sessions (keyed by credentials) and trees (keyed by credentials and share), so a
/// second share on the same server reuses the connection and the session. A connection that
/// nobody has used for the idle timeout is closed; one that failed is dropped and the next use
/// builds a fresh one.
/// </summary>
internal sealed class ConnectionPool : IAsyncDisposable
{
    private readonly ConcurrentDictionary<ConnectionKey, PooledConnection> _entries = new();
    private readonly SmbClientOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private readonly Task _sweeper;
    private readonly Guid _clientGuid = Guid.NewGuid();

    private readonly SmbClient _events;

    public ConnectionPool(SmbClientOptions options, ILoggerFactory loggerFactory, SmbClient events)
    {
        _events = events;
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ConnectionPool>();
        _sweeper = SmbConnection.RunInBackground(() => SweepLoopAsync(_lifetime.Token));
    }

    /// <summary>Number of pooled connections (for tests and diagnostics).</summary>
    public int Count => _entries.Count;

    /// <summary>READ data the pooled connections' readers put straight into files (for tests and diagnostics).</summary>
    public long BytesReadIntoFiles => _entries.Values.Sum(e => e.Connection.BytesReadIntoFiles);

    /// <summary>WRITE data the pooled connections' writers sent straight from local files (for tests and diagnostics).</summary>
    public long BytesSentFromFiles => _entries.Values.Sum(e => e.Connection.BytesSentFromFiles);

    /// <summary>
    /// Gets a tree for <paramref name="path"/>'s share, connecting, negotiating, authenticating and connecting the tree as needed;
    /// a connection being reconnected is waited for under <paramref name="call"/>, which the lease then carries.
    /// <paramref name="connectBudget"/> shortens the soft limit for getting there (a DFS failover's share of the soft
    /// timeout); the address override (<see cref="SmbClientOptions.ServerAddress"/>) is used only when <paramref name="direct"/>
    /// (the caller's own server, not a DFS target elsewhere).
    /// </summary>
    public async Task<TreeLease> AcquireTreeAsync(SmbPath path, CallOptions call, CancellationToken cancellationToken,
        TimeSpan? connectBudget = null, bool direct = true)
    {
        ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
        call = call.Begin();
        // Connecting, negotiating, authenticating and connecting the tree end by the call's deadline, and in soft mode
        // within the soft timeout (a server that does not get that far is unreachable for this call). They can all be
        // abandoned midway (nothing is registered until they succeed), so a timer on the token bounds them.
        var soft = call.SoftLimit;
        if (connectBudget is { } budget && (soft is not { } s0 || budget < s0))
        {
            soft = budget;
        }
        var remaining = call.Remaining;
        if (remaining is null && soft is null)
        {
            return await AcquireTreeCoreAsync(path, call, direct, cancellationToken).ConfigureAwait(false);
        }
        var bySoftLimit = soft is { } s && (remaining is not { } r || s < r);
        var left = bySoftLimit ? soft!.Value : remaining!.Value;
        var what = $"Connecting to {path.Host}:{path.Port}, share '{path.Share}'";
        call.ThrowIfExpired(what);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(left);
        try
        {
            return await AcquireTreeCoreAsync(path, call, direct, limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && limit.IsCancellationRequested)
        {
            throw bySoftLimit
                ? new SmbTimeoutException($"{what}: not done within the soft timeout of {left.TotalSeconds:0.#} s (soft mode)", ex)
                : call.DeadlineError(what, ex);
        }
    }

    private async Task<TreeLease> AcquireTreeCoreAsync(SmbPath path, CallOptions call, bool direct, CancellationToken cancellationToken)
    {
        var credentials = CredentialsFor(path);
        var key = new ConnectionKey(path.Host.ToLowerInvariant(), path.Port, _options.MinDialect, _options.MaxDialect, _options.RequireSigning,
            _options.RequireEncryption, _options.Ciphers is { } c ? string.Join(",", c) : "", direct ? _options.ServerAddress : null);
        var entry = await GetConnectionAsync(key, cancellationToken).ConfigureAwait(false);
        try
        {
            var tree = await entry.GetTreeAsync(credentials, path.Host, path.Share, call, cancellationToken).ConfigureAwait(false);
            return new TreeLease(entry, tree, call);
        }
        catch
        {
            entry.Release();
            throw;
        }
    }

    private SmbCredentials CredentialsFor(SmbPath path)
    {
        if (path.UserName is { } user)
        {
            return new SmbCredentials(user, path.Password ?? _options.Credentials?.Password ?? "", path.Domain ?? _options.Credentials?.Domain ?? "");
        }
        if (_options.Credentials is null && _options.Kerberos != KerberosPolicy.Off)
        {
            return SmbCredentials.TicketCache;
        }
        return _options.Credentials ?? throw new SmbSecurityException(
            "No credentials given: set SmbClientOptions.Credentials (SmbCredentials.Anonymous for an anonymous session).");
    }

    private async Task<PooledConnection> GetConnectionAsync(ConnectionKey key, CancellationToken cancellationToken)
    {
        if (TryLease(key, out var existing))
        {
            return existing;
        }
        await _createLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (TryLease(key, out existing))
            {
                return existing;
            }
            var settings = new ConnectionSettings
            {
                MinDialect = key.MinDialect,
                MaxDialect = key.MaxDialect,
                RequireSigning = key.RequireSigning,
                Ciphers = _options.Ciphers?.Select(c => (CipherId)c).ToArray(),
                ConnectTimeout = _options.ConnectTimeout,
                ServerAddress = key.Address,
                RequestTimeout = _options.RequestTimeout,
                ClientGuid = _clientGuid,
                LoggerFactory = _loggerFactory,
                Reconnect = true,
                ProbeDelay = _options.ProbeDelay,
                EchoTimeout = _options.EchoTimeout,
                IdleProbeInterval = _options.IdleProbeInterval,
                ReconnectMaxDelay = _options.ReconnectMaxDelay,
                RecoveryStepTimeout = _options.RecoveryStepTimeout,
                DurableHandleTimeout = _options.DurableHandleTimeout,
            };
            var connection = new SmbConnection(key.Host, key.Port, settings);
            try
            {
                await SmbInstruments.TraceAsync("smb.connect", key.Host, key.Port, async span =>
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    span?.SetTag("smb.dialect", connection.Negotiated?.Dialect.ToDisplay());
                    return true;
                }).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            var entry = new PooledConnection(connection, _options, _loggerFactory, _events);
            entry.AddRef();
            _entries[key] = entry;
            return entry;
        }
        finally
        {
            _createLock.Release();
        }
    }

    private bool TryLease(ConnectionKey key, out PooledConnection entry)
    {
        if (_entries.TryGetValue(key, out entry!))
        {
            // A connection that is reconnecting is still the one to use: the call waits for it (hard) or
            // gives up after the soft timeout, instead of opening a second connection beside it.
            if (entry.Connection.State != ConnectionState.Closed && entry.AddRef())
            {
                return true;
            }
            if (entry.Connection.State == ConnectionState.Closed && _entries.TryRemove(new KeyValuePair<ConnectionKey, PooledConnection>(key, entry)))
            {
                _ = entry.DisposeAsync().AsTask();
            }
        }
        return false;
    }

    private async Task SweepLoopAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_options.IdleTimeout.TotalMilliseconds / 4, 250, 15000));
        // Disposing the pool disposes the timer, which ends the loop without an exception.
        using var timer = new PeriodicTimer(period);
        using var stop = cancellationToken.Register(static t => ((PeriodicTimer)t!).Dispose(), timer);
        while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            foreach (var (key, entry) in _entries)
            {
                var idle = entry.IdleFor;
                var dead = entry.Connection.State == ConnectionState.Closed;
                if ((dead || (idle is { } t && t >= _options.IdleTimeout)) && entry.TryRetire()
                    && _entries.TryRemove(new KeyValuePair<ConnectionKey, PooledConnection>(key, entry)))
                {
                    _logger.ClosingConnection(dead ? "dead" : "idle", key.Host, key.Port);
                    await entry.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_lifetime.IsCancellationRequested)
        {
            return;
        }
        _lifetime.Cancel();
        await _sweeper.ConfigureAwait(false);
        foreach (var entry in _entries.Values)
        {
            await entry.DisposeAsync().ConfigureAwait(false);
        }
        _entries.Clear();
        _lifetime.Dispose();
        _createLock.Dispose();
    }
}

/// <summary>One pooled connection with its sessions and trees, and its reference count.</summary>
internal sealed class PooledConnection : IAsyncDisposable
{
    private readonly SmbClientOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly SemaphoreSlim _setupLock = new(1, 1);
    private readonly Dictionary<string, SmbSession> _sessions = [];
    private readonly Dictionary<(string User, string Share), SmbTree> _trees = [];
    private readonly object _refLock = new();
    private int _refs;
    private bool _retired;
    private long _idleSinceTicks = Environment.TickCount64;

    private readonly SmbClient _events;
    private readonly ILogger _logger;
    private readonly ConnectionRecovery _recovery;

    public PooledConnection(SmbConnection connection, SmbClientOptions options, ILoggerFactory loggerFactory, SmbClient events)
    {
        Connection = connection;
        _options = options;
        _loggerFactory = loggerFactory;
        _events = events;
        _logger = loggerFactory.CreateLogger<PooledConnection>();
        Breaks = new BreakDispatcher(connection, loggerFactory);
        // Recovery runs up the layers after NEGOTIATE: sessions, then trees, then open handles (DESIGN §6).
        _recovery = new ConnectionRecovery(connection);
        connection.StateChanged += OnStateChanged;
    }

    private string Server => $"{Connection.Host}:{Connection.Port}";

    private void OnStateChanged(ConnectionStateChange change)
    {
        try
        {
            if (change is { From: ConnectionState.Ready, To: ConnectionState.Disconnected or ConnectionState.Closed, Error: { } error })
            {
                _events.ServerLost(Connection.Host);
                _events.RaiseConnectionLost(new SmbConnectionEventArgs(Server, change.Reason, error.Message));
            }
            else if (change is { From: ConnectionState.Reconnecting, To: ConnectionState.Ready })
            {
                _events.RaiseConnectionRestored(new SmbConnectionEventArgs(Server, Connection.LastLossReason,
                    $"reconnected after {Connection.ReconnectAttempts} attempt(s); lost because: {Connection.LastLoss?.Message}"));
            }
        }
        catch (Exception ex)
        {
            _logger.ConnectionEventHandlerFailed(ex);
        }
    }

    private void OnHandleLost(SmbTree tree, SmbOpen open, string reason)
    {
        _logger.HandleLost(open.Name, tree.Share, reason);
        if (SmbInstruments.HandlesLost.Enabled)
        {
            var tags = Connection.ServerTags();
            tags.Add("smb.share", tree.Share);
            SmbInstruments.HandlesLost.Add(1, tags);
        }
        try
        {
            _events.RaiseHandleLost(new SmbHandleLostEventArgs(Server, tree.Share, open.Name, reason));
        }
        catch (Exception ex)
        {
            _logger.HandleLostHandlerFailed(ex);
        }
    }

    public SmbConnection Connection { get; }

    /// <summary>Oplock and lease breaks on this connection.</summary>
    public BreakDispatcher Breaks { get; }

    /// <summary>How long nobody has held it, or null while in use.</summary>
    public TimeSpan? IdleFor
    {
        get
        {
            lock (_refLock)
            {
                return _refs > 0 ? null : TimeSpan.FromMilliseconds(Environment.TickCount64 - _idleSinceTicks);
            }
        }
    }

    public bool AddRef()
    {
        lock (_refLock)
        {
            if (_retired)
            {
                return false;
            }
            _refs++;
            return true;
        }
    }

    public void Release()
    {
        lock (_refLock)
        {
            if (--_refs == 0)
            {
                _idleSinceTicks = Environment.TickCount64;
            }
        }
    }

    /// <summary>Marks it for closing if nobody holds it.</summary>
    public bool TryRetire()
    {
        lock (_refLock)
        {
            if (_refs > 0)
            {
                return false;
            }
            _retired = true;
            return true;
        }
    }

    public async Task<SmbTree> GetTreeAsync(SmbCredentials credentials, string host, string share, CallOptions call, CancellationToken cancellationToken)
    {
        var userKey = credentials.IsTicketCache ? "\0krb5-ccache"
            : $"{credentials.Domain}\\{credentials.UserName}\0{credentials.Password.GetHashCode(StringComparison.Ordinal)}";
        var treeKey = (userKey, share.ToUpperInvariant());
        await _setupLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_trees.TryGetValue(treeKey, out var tree))
            {
                return tree;
            }
            for (var attempt = 1; ; attempt++)
            {
                // A new session or tree needs a Ready connection: wait for a reconnect like any call would.
                await Connection.WaitForReadyAsync(call.SoftLimit, cancellationToken, deadline: call.Deadline).ConfigureAwait(false);
                try
                {
                    return await SetUpTreeAsync(credentials, userKey, treeKey, host, share, cancellationToken).ConfigureAwait(false);
                }
                catch (SmbConnectionLostException) when (attempt < 3)
                {
                    // Lost again while setting up: wait for the next reconnect.
                }
            }
        }
        finally
        {
            _setupLock.Release();
        }
    }

    private async Task<SmbTree> SetUpTreeAsync(SmbCredentials credentials, string userKey, (string, string) treeKey, string host, string share, CancellationToken cancellationToken)
    {
        {
            SmbTree tree;
            if (!_sessions.TryGetValue(userKey, out var session))
            {
                var setup = new SessionSetupOptions
                {
                    Credentials = credentials,
                    Workstation = _options.WorkstationName,
                    RequireSigning = _options.RequireSigning,
                    AllowGuest = _options.AllowGuest,
                    RequireEncryption = _options.RequireEncryption,
                    Kerberos = _options.Kerberos,
                    LoggerFactory = _loggerFactory,
                };
                session = await SmbInstruments.TraceAsync("smb.session_setup", Connection.Host, Connection.Port, _ =>
                    SmbSession.SetupAsync(Connection, setup, cancellationToken)).ConfigureAwait(false);
                lock (_sessions)
                {
                    _sessions[userKey] = session;
                }
                _recovery.Register(session);
            }
            tree = await SmbInstruments.TraceAsync("smb.tree_connect", Connection.Host, Connection.Port, span =>
            {
                span?.SetTag("smb.share", share);
                return SmbTree.ConnectAsync(session, host, share, Breaks, _loggerFactory, cancellationToken);
            }).ConfigureAwait(false);
            tree.HandleLost = (open, reason) => OnHandleLost(tree, open, reason);
            lock (_sessions)
            {
                _trees[treeKey] = tree;
            }
            _recovery.Register(tree);
            return tree;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var tree in _trees.Values)
        {
            await tree.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var session in _sessions.Values)
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
        _trees.Clear();
        _sessions.Clear();
        await Connection.DisposeAsync().ConfigureAwait(false);
        _setupLock.Dispose();
    }
}

/// <summary>A use of a pooled tree, and the call options it was leased for; disposing it gives the connection back to the pool.</summary>
internal sealed class TreeLease(PooledConnection entry, SmbTree tree, CallOptions call) : IDisposable
{
    private int _released;

    public SmbTree Tree { get; } = tree;

    /// <summary>What the calls made through this lease do while the connection is down (opens created through it keep it).</summary>
    public CallOptions Call { get; } = call;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            entry.Release();
        }
    }
}
