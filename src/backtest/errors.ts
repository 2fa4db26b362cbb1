/** A problem with the backtest's input (policy, history, options): one message for the user, never a stack. */
export class BacktestInputError extends Error {}
